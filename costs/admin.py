"""Admin for prices and budgets."""
