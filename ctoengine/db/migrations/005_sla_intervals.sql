-- SLA by 15-minute interval and queue, computed from the call records, so any
-- interval can be recomputed at any time. Definitions (docs/sla.md):
--   offered    calls that entered a queue (queued_at set), by the interval they entered it
--   answered   of those, answered by an operator; within_target: waited <= 20 s
--   abandoned  hung up while waiting; short_abandoned: within 5 s (counted apart, not lost)
--   overflowed sent to a peer centre
--   service_level = within_target / (offered - short_abandoned)
--   lost_share    = (abandoned - short_abandoned) / (offered - short_abandoned)
--   asa = mean wait of answered calls; aht = mean talk + wrap-up of answered calls
CREATE VIEW sla_intervals AS
WITH q AS (
    SELECT date_bin('15 minutes', queued_at, TIMESTAMPTZ '2000-01-01') AS interval_start,
           coalesce(queue, topic) AS queue, disposition, wait_seconds, talk_seconds, wrap_up_seconds
    FROM calls
    WHERE queued_at IS NOT NULL
)
SELECT interval_start,
       queue,
       count(*)                                                                  AS offered,
       count(*) FILTER (WHERE disposition = 'answered')                          AS answered,
       count(*) FILTER (WHERE disposition = 'answered' AND wait_seconds <= 20)   AS answered_within_target,
       count(*) FILTER (WHERE disposition = 'abandoned')                         AS abandoned,
       count(*) FILTER (WHERE disposition = 'abandoned' AND wait_seconds < 5)    AS short_abandoned,
       count(*) FILTER (WHERE disposition = 'overflowed')                        AS overflowed,
       round(avg(wait_seconds) FILTER (WHERE disposition = 'answered'), 3)       AS asa_seconds,
       round(avg(coalesce(talk_seconds, 0) + coalesce(wrap_up_seconds, 0))
             FILTER (WHERE disposition = 'answered'), 3)                         AS aht_seconds,
       max(wait_seconds)                                                         AS longest_wait_seconds,
       round(count(*) FILTER (WHERE disposition = 'answered' AND wait_seconds <= 20)::numeric
             / nullif(count(*) - count(*) FILTER (WHERE disposition = 'abandoned' AND wait_seconds < 5), 0), 4)
                                                                                 AS service_level,
       round((count(*) FILTER (WHERE disposition = 'abandoned')
              - count(*) FILTER (WHERE disposition = 'abandoned' AND wait_seconds < 5))::numeric
             / nullif(count(*) - count(*) FILTER (WHERE disposition = 'abandoned' AND wait_seconds < 5), 0), 4)
                                                                                 AS lost_share
FROM q
GROUP BY interval_start, queue;
