"""Authors as the site knows them: names printed on papers, grouped by a conservative key."""
