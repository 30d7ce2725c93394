"""How doseledger is configured: the settings the service and the CLI share."""
