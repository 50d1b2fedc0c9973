"""Analytics over the CRM and the AI audit trail: the dashboard's named queries and charts.

Framework-free: ``serving/`` renders and serves them, nothing here knows about HTTP.
"""
