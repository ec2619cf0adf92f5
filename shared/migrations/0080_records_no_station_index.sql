-- Records' plain index on station_id is dropped: no query reads Records by station alone (the model's
-- anonymous-flow scan has its own partial index on (station_id, event_time), the history and the map read
-- the model's tables), and every insert paid for it: 0.4 s of each 235,000-event batch, 1.7 µs per event
-- (README, "Performance"). A tool that needs it can create it on the months it reads.
DROP INDEX IF EXISTS records_station;
