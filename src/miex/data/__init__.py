"""miex.data: from real corpora and face pools to MiE-X, the synthetic micro-expression dataset.

Data flow: corpora -> faces and AUs -> AU sources -> synthesis plan -> generator -> parquet shards -> Hub.
"""
