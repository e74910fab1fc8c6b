"""rejoinder.operator: the kopf operator that reconciles DialogModels (imported as rejoinder.operator)."""
