"""Workers that claim cells from the database and train them."""
