from setuptools import find_packages, setup

setup(
    name="lbh_platform",
    version="0.1.0",
    description="London Borough of Hackney data platform ingestion as Dagster assets",
    python_requires=">=3.11,<3.12",
    # Locally (`pip install -e .[dev]`) this finds lbh_platform_devkit beside lbh_platform; the
    # image copies only lbh_platform, so its install has no development kit.
    packages=find_packages(exclude=["lbh_platform_tests"]),
    package_data={"lbh_platform": ["config/*.yaml", "config/**/*.json", "config/**/*.yaml"]},
    install_requires=[
        "dagster==1.13.27",
        "dagster-webserver==1.13.27",
        "dagster-aws==0.29.27",
        "dagster-pyspark==0.29.27",
        "dagster-postgres==0.29.27",
        "requests>=2.31",
        "urllib3>=2.3",  # HTTPResponse.shutdown: the request deadline cuts off a dripping body
        "pandas>=2.2,<3",
        "pyarrow>=15",
        "pandera>=0.20",
        "pyyaml>=6",
        "boto3>=1.34",
        "duckdb>=1.1",
        "msgspec>=0.18",  # fast, exact JSON decoding of API pages
        "numpy>=1.26",
    ],
    extras_require={
        # moto's server mode is the S3 / Glue / DynamoDB stand-in for tests and the demo;
        # playwright drives Debian's Chromium in the UI end-to-end test.
        "dev": [
            "pytest>=8",
            "ruff>=0.6",
            "moto[server]>=5",
            "playwright>=1.45",
            "syrupy>=4",  # the code location snapshot (test_defs_snapshot.py)
            "dagster-dg-cli==1.13.27",  # `dg check defs` / `dg list defs`
        ],
    },
)
