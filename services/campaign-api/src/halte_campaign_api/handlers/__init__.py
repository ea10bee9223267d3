"""What happens on each command and event of campaign-api (units of work over the database)."""
