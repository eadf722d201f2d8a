"""Prices, cost tracking, budgets, alerts, rollups and exports."""
