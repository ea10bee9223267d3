"""The routers of campaign-api, one per concept."""
