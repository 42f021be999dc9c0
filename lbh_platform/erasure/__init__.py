"""Erasure of personal data and its declarations: where a key is (locate, files), removing
it from every stage atomically with an audit (engine, audit), recognising erased keys at
ingest (keys, locate.drop_erased), personal-column declarations (personal) and masked views
(masked). Pure and source-agnostic: the caller passes the stages and where each holds the key.
"""

from lbh_platform.erasure.audit import AuditLog, operator
from lbh_platform.erasure.engine import (
    Change,
    ErasureIncomplete,
    ErasureReport,
    Held,
    Request,
    erase,
    find,
)
from lbh_platform.erasure.keys import ErasedKeys, KeySet, erasure_salt, key_hash
from lbh_platform.erasure.locate import Locator, Removed, drop_erased, holding_rows, scrub
from lbh_platform.erasure.masked import create_masked_view, masked_view_sql
from lbh_platform.erasure.personal import (
    ColumnFacts,
    PersonalData,
    column_facts,
    parse_personal_data,
    parse_personal_tables,
)
from lbh_platform.erasure.recorded import erased_keys
from lbh_platform.erasure.targets import FileTarget, TableTarget, Target

__all__ = [
    "AuditLog",
    "Change",
    "ColumnFacts",
    "ErasedKeys",
    "ErasureIncomplete",
    "ErasureReport",
    "FileTarget",
    "Held",
    "KeySet",
    "Locator",
    "PersonalData",
    "Removed",
    "Request",
    "TableTarget",
    "Target",
    "column_facts",
    "create_masked_view",
    "drop_erased",
    "erase",
    "erased_keys",
    "erasure_salt",
    "find",
    "holding_rows",
    "key_hash",
    "masked_view_sql",
    "operator",
    "parse_personal_data",
    "parse_personal_tables",
    "scrub",
]
