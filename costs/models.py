"""Cost data: prices, budgets, alerts and rollups."""
