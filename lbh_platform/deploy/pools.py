"""Give every pool of the code location its limit row before the daemon dequeues anything.

Dagster 1.13 creates a pool's limit (``concurrency.pools.default_limit``) lazily, in the
first dequeue pass that sees a run needing it, and does not enforce it in that same pass: two
runs of one table queued together were both started (seen in the deployment test). Creating
the rows up front closes that gap; it is idempotent and runs as the daemon starts
(``entrypoint --init-pools``) or by hand: ``python -m lbh_platform.deploy.pools``.
"""

import dagster as dg


def definition_pools(defs: dg.Definitions) -> set[str]:
    """The pools named by the assets (and checks) of ``defs``."""
    pools: set[str] = set()
    for assets_def in defs.get_repository_def().asset_graph.assets_defs:
        pools |= set(assets_def.node_def.pools)
    return pools


def ensure_pool_limits(instance: dg.DagsterInstance, pools: set[str]) -> list[str]:
    """Create the default-limit row of each pool that has none; returns the pools created."""
    storage = instance.event_log_storage
    existing = storage.get_concurrency_keys()
    created = []
    for pool in sorted(pools - existing):
        if storage.initialize_concurrency_limit_to_default(pool):
            created.append(pool)
    return created


def main() -> int:
    from lbh_platform.definitions import defs

    pools = definition_pools(defs)
    with dg.DagsterInstance.get() as instance:
        created = ensure_pool_limits(instance, pools)
    limit = "default limit"
    print(f"lbh_platform: {len(pools)} pools, {len(created)} given their {limit}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
