"""Web: a Quart app serving the live map of docks with bikes, pushed over websockets as batches land."""
