"""The plan/execute core: the typed records of a build, the cache and its keys (code identity,
digests), the pipeline that plans and the executors that compute, budgets and the process-wide
state a build sets. Knows no technique by name."""
