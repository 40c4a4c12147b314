"""Analytics: scheduled jobs over stored data (rollups, leak detection, energy anomalies,
fire/flood detection, dimming schedules). Empty until the analytics issue lands."""
