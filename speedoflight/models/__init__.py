"""The [model] extra: loading real models, dumps, tree attention, the exact oracle, measured drafters."""
