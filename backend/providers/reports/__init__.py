"""Report adapters, apart from the OAuth clients: one module per ads API, all implementing
adapter.ReportAdapter (identity where the API says it, accounts, report rows)."""
