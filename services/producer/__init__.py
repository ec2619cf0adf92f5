"""Producer: reads Citi Bike trip CSVs from S3, splits each trip into a start and an end event,
replays them in event-time order and publishes them to the raw topic."""
