"""Engine choice for the asset factories: ``LBH_ENGINE=pandas|spark``.

The Spark session comes from dagster-pyspark's lazy resource, configured from the
environment, so runs on the pandas engine never start a JVM and the same definitions run on a
local Spark, a cluster, EMR or Glue.
"""

import dagster as dg
from dagster_pyspark import LazyPySparkResource

from lbh_platform import settings_registry as registry
from lbh_platform.engines import ArrowEngine, Engine, engine_name


def spark_config_from_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """``spark.master`` from ``LBH_SPARK_MASTER`` (default ``local[2]``), S3A settings when the
    zones are on S3, and any ``LBH_SPARK_CONF_<key with dots as __>`` extras."""
    env = registry.environ(environ)
    from lbh_platform.engines.spark_engine import SPARK_CONF

    config = {
        "spark.master": env.get("LBH_SPARK_MASTER", "local[2]"),
        "spark.app.name": "lbh_platform",
        "spark.ui.showConsoleProgress": "false",
        **SPARK_CONF,
    }
    if any(env.get(z, "").startswith("s3") for z in ("LBH_RAW_ZONE", "LBH_REFINED_ZONE")):
        config["spark.hadoop.fs.s3a.aws.credentials.provider"] = (
            "software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider"
        )
        endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
        if endpoint:
            config["spark.hadoop.fs.s3a.endpoint"] = endpoint
            config["spark.hadoop.fs.s3a.path.style.access"] = "true"
    prefix = "LBH_SPARK_CONF_"
    for key, value in env.items():
        if key.startswith(prefix):
            config[key[len(prefix) :].replace("__", ".").lower()] = value
    return config


class EngineResource(dg.ConfigurableResource):
    """Which engine the transforms run on; Spark's session is created only when used."""

    engine: str = "pandas"
    pyspark: dg.ResourceDependency[LazyPySparkResource]

    def get(self) -> Engine:
        if engine_name({"LBH_ENGINE": self.engine}) == "spark":
            from lbh_platform.engines.spark_engine import SparkEngine

            return SparkEngine(self.pyspark.spark_session)
        return ArrowEngine()


def build_engine_resources() -> dict[str, dg.ConfigurableResource]:
    pyspark = LazyPySparkResource(spark_config=spark_config_from_env())
    return {"pyspark": pyspark, "engine": EngineResource(engine=engine_name(), pyspark=pyspark)}
