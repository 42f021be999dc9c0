"""Spark sessions for the Spark engine: from dagster-pyspark in the assets, or a small local
one for tests and benchmarks."""

from pyspark.sql import SparkSession

from lbh_platform.engines.spark_engine import SPARK_CONF

LOCAL_CONF = {
    "spark.master": "local[2]",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.driver.memory": "2g",
    "spark.sql.adaptive.enabled": "true",
    **SPARK_CONF,
}


def local_spark_session(app_name: str = "lbh_platform") -> SparkSession:
    builder = SparkSession.builder.appName(app_name)
    for key, value in LOCAL_CONF.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session
