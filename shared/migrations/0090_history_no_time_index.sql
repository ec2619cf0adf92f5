-- availability_history's index on event_time alone is dropped: every reader asks per station, on the key
-- (station_id, event_time) (the map's moment, a station's changes, the replay and chaos checks), and the
-- history view's earliest moment is found per station on the key too (services/web/history.py). Every
-- batch paid for it: 0.3 s of each 235,000-event batch's history rebuild (README, "Performance").
DROP INDEX IF EXISTS availability_history_time;
