"""What people and scrapers see: the HTTP app, the dashboard, Prometheus text, the terminal table."""
