-- Analytics: reason-code → ISO 22400 time class maps, rollups maintained by the platform, benchmark sharing.
--
-- The Apache edition of TimescaleDB has no continuous aggregates, so rollups are ordinary hypertables written by
-- `tonghu platform rollups` from the SQL functions below. The same functions compute any range straight from the
-- raw rows (with one bucket spanning the range), which is how partial hours at the edges of a query are filled:
-- one definition, so a result built from rollups equals the same result computed from raw rows.
--
-- Conventions shared by every function here:
--   * only samples of good quality count (status bits 30–31 = 00, i.e. 0 ≤ status < 2^30);
--   * a state holds from its sample until the next state sample of the same asset (never past now());
--   * a counter's increase between two samples is v − prev, or v when v < prev (a reset: the counter restarted
--     from zero), the same rule as Prometheus' increase(); the first sample ever of a counter adds nothing;
--   * a weight in force "as of" a counter sample is the last weight sample strictly before it (units counted at
--     an instant were made before it, under the previous product).

CREATE TYPE time_class AS ENUM ('production', 'setup', 'unplanned_down', 'planned_down', 'idle');

-- ISO 22400-2 time model per asset, versioned: the row with the latest valid_from ≤ the state's time applies.
CREATE TABLE state_reasons (
    asset_id    integer NOT NULL REFERENCES assets ON DELETE CASCADE,
    code        text NOT NULL,
    valid_from  timestamptz NOT NULL DEFAULT '-infinity',
    state       text NOT NULL DEFAULT '',
    time_class  time_class NOT NULL,
    failure     boolean NOT NULL DEFAULT false,   -- counts as a failure event for MTBF / MTTR
    text        text NOT NULL DEFAULT '',
    PRIMARY KEY (asset_id, code, valid_from),
    CHECK (NOT failure OR time_class = 'unplanned_down')
);

-- Reports with no reason code (or an unmapped one) fall back to the state name; anything else is unknown time.
CREATE TABLE state_defaults (
    state       text PRIMARY KEY,
    time_class  time_class NOT NULL
);
INSERT INTO state_defaults VALUES ('running', 'production'), ('setup', 'setup'), ('down', 'unplanned_down'),
    ('planned_down', 'planned_down'), ('idle', 'idle');

-- Roles whose tags are counters (reset-safe deltas are rolled up for them); attrs.counter = true adds others.
CREATE FUNCTION is_counter(role text, attrs jsonb) RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT role = ANY (ARRAY['count_total', 'count_good', 'count_scrap', 'count_rework', 'count_scrap_cause',
                             'placements', 'placement_errors', 'mispicks', 'mispicks_total', 'aoi_inspected',
                             'aoi_passed_first', 'aoi_defects', 'aoi_false_calls', 'aoi_defects_by_type',
                             'torque_nok', 'energy_kwh', 'power_kwh', 'feed_t', 'product_t', 'fuel_gj', 'steam_t',
                             'flare_t', 'co2_t'])
           OR coalesce(attrs ->> 'counter', '') = 'true'
$$;

CREATE FUNCTION good(status integer) RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT status >= 0 AND status < 1073741824
$$;

-- Per tag per bucket: count, min, max, sum (avg = sum / n), last value and its time, counter increase and resets.
CREATE FUNCTION tag_agg(p_tags integer[], p_t0 timestamptz, p_t1 timestamptz, p_width interval)
RETURNS TABLE (tag_id integer, bucket timestamptz, n integer, vmin float8, vmax float8, vsum float8, vlast float8,
               last_time timestamptz, delta float8, resets integer)
LANGUAGE sql STABLE AS $$
    WITH pts AS (
        SELECT s.tag_id, s.time, s.value, false AS pre
        FROM samples_num s
        WHERE s.tag_id = ANY (p_tags) AND s.time >= p_t0 AND s.time < p_t1 AND good(s.status)
          AND s.value IS NOT NULL AND s.value <> 'NaN'::float8
        UNION ALL
        SELECT t.id, p.time, p.value, true
        FROM unnest(p_tags) t(id)
        CROSS JOIN LATERAL (SELECT s.time, s.value FROM samples_num s
                            WHERE s.tag_id = t.id AND s.time < p_t0 AND good(s.status)
                              AND s.value IS NOT NULL AND s.value <> 'NaN'::float8
                            ORDER BY s.time DESC LIMIT 1) p
    ), d AS (
        SELECT pts.tag_id, pts.time, pts.value, pts.pre, lag(pts.value) OVER w AS prev
        FROM pts WINDOW w AS (PARTITION BY pts.tag_id ORDER BY pts.time)
    )
    SELECT d.tag_id, time_bucket(p_width, d.time, p_t0), count(*)::integer, min(d.value), max(d.value),
           sum(d.value), last(d.value, d.time), max(d.time),
           sum(CASE WHEN d.prev IS NULL THEN 0 WHEN d.value >= d.prev THEN d.value - d.prev ELSE d.value END),
           (count(*) FILTER (WHERE d.value < d.prev))::integer
    FROM d WHERE NOT d.pre
    GROUP BY 1, 2
$$;

-- State intervals of assets, clipped to [p_t0, min(p_t1, now())), with their time class and failure flag.
CREATE FUNCTION asset_state_intervals(p_assets integer[], p_t0 timestamptz, p_t1 timestamptz)
RETURNS TABLE (asset_id integer, t_from timestamptz, t_to timestamptz, state text, code text,
               time_class time_class, failure boolean, starts boolean, changed boolean)
LANGUAGE sql STABLE AS $$
    WITH st AS (
        -- One state and one reason tag per asset (the first registered), so a second never mixes in.
        SELECT DISTINCT ON (a.id) a.id AS asset_id, ts.id AS state_tag, tr.id AS reason_tag
        FROM unnest(p_assets) a(id)
        JOIN tags ts ON ts.asset_id = a.id AND ts.role = 'state' AND ts.data_type IN ('state', 'string')
        LEFT JOIN tags tr ON tr.asset_id = a.id AND tr.role = 'reason' AND tr.data_type = 'string'
        ORDER BY a.id, ts.id, tr.id
    ), pts AS (
        SELECT st.asset_id, st.reason_tag, s.time, s.value
        FROM st JOIN samples_text s ON s.tag_id = st.state_tag
        WHERE s.time >= p_t0 AND s.time < p_t1 AND good(s.status)
        UNION ALL
        SELECT st.asset_id, st.reason_tag, p.time, p.value
        FROM st CROSS JOIN LATERAL (SELECT s.time, s.value FROM samples_text s
                                    WHERE s.tag_id = st.state_tag AND s.time < p_t0 AND good(s.status)
                                    ORDER BY s.time DESC LIMIT 1) p
    ), coded AS (
        SELECT pts.asset_id, pts.time, pts.value AS state, coalesce(r.value, '') AS code
        FROM pts LEFT JOIN LATERAL (SELECT s.value FROM samples_text s
                                    WHERE s.tag_id = pts.reason_tag AND s.time <= pts.time AND good(s.status)
                                    ORDER BY s.time DESC LIMIT 1) r ON true
    ), classed AS (
        SELECT c.asset_id, c.time, c.state, c.code, coalesce(m.time_class, d.time_class) AS time_class,
               coalesce(m.failure, false) AS failure,
               lead(c.time) OVER w AS next_time,
               lag(c.code) OVER w AS prev_code, lag(c.state) OVER w AS prev_state
        FROM coded c
        LEFT JOIN LATERAL (SELECT r.time_class, r.failure FROM state_reasons r
                           WHERE r.asset_id = c.asset_id AND r.code = c.code AND r.valid_from <= c.time
                           ORDER BY r.valid_from DESC LIMIT 1) m ON true
        LEFT JOIN state_defaults d ON d.state = c.state AND m.time_class IS NULL
        WINDOW w AS (PARTITION BY c.asset_id ORDER BY c.time)
    )
    SELECT asset_id, greatest(time, p_t0), least(coalesce(next_time, p_t1), p_t1, now()), state, code, time_class,
           failure,
           -- A failure event begins where the reported (state, code) changes; periodic repeats continue it.
           failure AND time >= p_t0 AND (prev_code IS DISTINCT FROM code OR prev_state IS DISTINCT FROM state),
           time >= p_t0 AND (prev_code IS DISTINCT FROM code OR prev_state IS DISTINCT FROM state)
    FROM classed
    WHERE least(coalesce(next_time, p_t1), p_t1, now()) > greatest(time, p_t0)
$$;

-- Σ (counter increase × weight as of the counter sample) per asset per bucket, for one counter role and one weight
-- role. With p_invert the weight is a rate per hour and 3600 / rate is used (seconds per unit from t/h).
CREATE FUNCTION asset_weighted(p_assets integer[], p_t0 timestamptz, p_t1 timestamptz, p_width interval,
                               p_counter_role text, p_weight_role text, p_invert boolean)
RETURNS TABLE (asset_id integer, bucket timestamptz, weighted float8)
LANGUAGE sql STABLE AS $$
    WITH tg AS (
        SELECT t.asset_id, t.id, (t.role = p_weight_role) AS is_weight
        FROM tags t WHERE t.asset_id = ANY (p_assets) AND t.role IN (p_counter_role, p_weight_role)
          AND t.data_type IN ('float', 'int')
    ), pts AS (
        SELECT tg.asset_id, tg.id AS tag_id, tg.is_weight, s.time, s.value, false AS pre
        FROM tg JOIN samples_num s ON s.tag_id = tg.id
        WHERE s.time >= p_t0 AND s.time < p_t1 AND good(s.status) AND s.value IS NOT NULL
          AND s.value <> 'NaN'::float8
        UNION ALL
        SELECT tg.asset_id, tg.id, tg.is_weight, p.time, p.value, true
        FROM tg CROSS JOIN LATERAL (SELECT s.time, s.value FROM samples_num s
                                    WHERE s.tag_id = tg.id AND s.time < p_t0 AND good(s.status)
                                      AND s.value IS NOT NULL AND s.value <> 'NaN'::float8
                                    ORDER BY s.time DESC LIMIT 1) p
    ), w AS (
        -- Weights sort after counters at the same instant, so a tie uses the weight in force before it.
        SELECT pts.*, count(*) FILTER (WHERE pts.is_weight) OVER o AS grp, lag(pts.value) OVER c AS prev
        FROM pts
        WINDOW o AS (PARTITION BY pts.asset_id ORDER BY pts.time, pts.is_weight),
               c AS (PARTITION BY pts.tag_id ORDER BY pts.time)
    ), x AS (
        SELECT w.*, max(w.value) FILTER (WHERE w.is_weight) OVER (PARTITION BY w.asset_id, w.grp) AS weight
        FROM w
    )
    SELECT x.asset_id, time_bucket(p_width, x.time, p_t0),
           sum((CASE WHEN x.prev IS NULL THEN 0 WHEN x.value >= x.prev THEN x.value - x.prev ELSE x.value END)
               * CASE WHEN NOT p_invert THEN x.weight WHEN x.weight > 0 THEN 3600.0 / x.weight END)
    FROM x WHERE NOT x.is_weight AND NOT x.pre
    GROUP BY 1, 2
$$;

-- Rollups. Sums, not averages, so any set of buckets combines exactly.
CREATE TABLE rollup_tag_1m (
    tag_id     integer NOT NULL,
    bucket     timestamptz NOT NULL,
    n          integer NOT NULL,
    vmin       float8, vmax float8, vsum float8, vlast float8,
    last_time  timestamptz,
    delta      float8,
    resets     integer
);
SELECT create_hypertable('rollup_tag_1m', by_range('bucket', INTERVAL '7 days'), create_default_indexes => false);
CREATE UNIQUE INDEX rollup_tag_1m_idx ON rollup_tag_1m (tag_id, bucket DESC);

CREATE TABLE rollup_tag_1h (LIKE rollup_tag_1m);
SELECT create_hypertable('rollup_tag_1h', by_range('bucket', INTERVAL '90 days'), create_default_indexes => false);
CREATE UNIQUE INDEX rollup_tag_1h_idx ON rollup_tag_1h (tag_id, bucket DESC);

CREATE TABLE rollup_asset_1h (
    asset_id          integer NOT NULL,
    bucket            timestamptz NOT NULL,
    production_s      float8 NOT NULL DEFAULT 0,
    setup_s           float8 NOT NULL DEFAULT 0,
    unplanned_down_s  float8 NOT NULL DEFAULT 0,
    planned_down_s    float8 NOT NULL DEFAULT 0,
    idle_s            float8 NOT NULL DEFAULT 0,
    unknown_s         float8 NOT NULL DEFAULT 0,   -- no state known, or a state with no time class
    failures          integer NOT NULL DEFAULT 0,
    failure_down_s    float8 NOT NULL DEFAULT 0,
    cutting_s         float8 NOT NULL DEFAULT 0,   -- spindle turning (role spindle_speed > 0)
    produced          float8 NOT NULL DEFAULT 0,
    good              float8 NOT NULL DEFAULT 0,
    scrap             float8 NOT NULL DEFAULT 0,
    rework            float8 NOT NULL DEFAULT 0,
    ideal_s           float8 NOT NULL DEFAULT 0,   -- Σ produced × ideal cycle time
    energy_kwh        float8 NOT NULL DEFAULT 0,   -- every electricity meter of the asset
    energy_main_kwh   float8 NOT NULL DEFAULT 0,   -- meters that are not a sub-meter of another (attrs.submeter_of)
    opportunities     float8 NOT NULL DEFAULT 0    -- Σ inspected units × defect opportunities per unit (DPMO)
);
SELECT create_hypertable('rollup_asset_1h', by_range('bucket', INTERVAL '90 days'), create_default_indexes => false);
CREATE UNIQUE INDEX rollup_asset_1h_idx ON rollup_asset_1h (asset_id, bucket DESC);

-- One asset-bucket row of rollup_asset_1h for any range and bucket width (buckets start at p_t0).
CREATE FUNCTION asset_facts(p_assets integer[], p_t0 timestamptz, p_t1 timestamptz, p_width interval)
RETURNS SETOF rollup_asset_1h LANGUAGE sql STABLE AS $$
    WITH iv AS (
        SELECT * FROM asset_state_intervals(p_assets, p_t0, p_t1)
    ), split AS (
        SELECT iv.asset_id, bk AS bucket, iv.time_class, iv.failure,
               extract(epoch FROM least(iv.t_to, bk + p_width) - greatest(iv.t_from, bk))::float8 AS secs,
               (iv.starts AND bk = time_bucket(p_width, iv.t_from, p_t0)) AS starts
        FROM iv CROSS JOIN LATERAL generate_series(time_bucket(p_width, iv.t_from, p_t0),
                                                   iv.t_to - interval '1 microsecond', p_width) bk
    ), sp AS (
        SELECT t.asset_id, s.time, s.value
        FROM tags t JOIN samples_num s ON s.tag_id = t.id
        WHERE t.asset_id = ANY (p_assets) AND t.role = 'spindle_speed' AND s.time >= p_t0 AND s.time < p_t1
          AND good(s.status) AND s.value IS NOT NULL AND s.value <> 'NaN'::float8
        UNION ALL
        SELECT t.asset_id, p.time, p.value
        FROM tags t CROSS JOIN LATERAL (SELECT s.time, s.value FROM samples_num s
                                        WHERE s.tag_id = t.id AND s.time < p_t0 AND good(s.status)
                                          AND s.value IS NOT NULL AND s.value <> 'NaN'::float8
                                        ORDER BY s.time DESC LIMIT 1) p
        WHERE t.asset_id = ANY (p_assets) AND t.role = 'spindle_speed'
    ), spi AS (
        SELECT sp.asset_id, greatest(sp.time, p_t0) AS a,
               least(coalesce(lead(sp.time) OVER w, p_t1), p_t1, now()) AS b, sp.value
        FROM sp WINDOW w AS (PARTITION BY sp.asset_id ORDER BY sp.time)
    ), cut AS (
        SELECT spi.asset_id, bk AS bucket,
               sum(extract(epoch FROM least(spi.b, bk + p_width) - greatest(spi.a, bk)))::float8 AS secs
        FROM spi CROSS JOIN LATERAL generate_series(time_bucket(p_width, spi.a, p_t0),
                                                    spi.b - interval '1 microsecond', p_width) bk
        WHERE spi.value > 0 AND spi.b > spi.a
        GROUP BY 1, 2
    ), ctags AS (
        SELECT t.id, t.asset_id, t.role, (t.attrs ? 'submeter_of') AS submeter
        FROM tags t
        WHERE t.asset_id = ANY (p_assets) AND t.data_type IN ('float', 'int')
          AND t.role IN ('count_total', 'count_good', 'count_scrap', 'count_rework', 'energy_kwh', 'power_kwh')
    ), counts AS (
        SELECT c.asset_id, a.bucket,
               coalesce(sum(a.delta) FILTER (WHERE c.role = 'count_total'), 0) AS produced,
               coalesce(sum(a.delta) FILTER (WHERE c.role = 'count_good'), 0) AS good,
               coalesce(sum(a.delta) FILTER (WHERE c.role = 'count_scrap'), 0) AS scrap,
               coalesce(sum(a.delta) FILTER (WHERE c.role = 'count_rework'), 0) AS rework,
               coalesce(sum(a.delta) FILTER (WHERE c.role IN ('energy_kwh', 'power_kwh')), 0) AS energy,
               coalesce(sum(a.delta) FILTER (WHERE c.role IN ('energy_kwh', 'power_kwh') AND NOT c.submeter), 0)
                   AS energy_main
        FROM tag_agg((SELECT coalesce(array_agg(id), '{}') FROM ctags), p_t0, p_t1, p_width) a
        JOIN ctags c ON c.id = a.tag_id
        GROUP BY 1, 2
    ), ideal AS (
        SELECT * FROM asset_weighted(p_assets, p_t0, p_t1, p_width, 'count_total', 'ideal_cycle_time', false)
        UNION ALL
        SELECT * FROM asset_weighted(p_assets, p_t0, p_t1, p_width, 'count_total', 'ideal_rate', true)
    ), opp AS (
        SELECT * FROM asset_weighted(p_assets, p_t0, p_t1, p_width, 'aoi_inspected', 'opportunities', false)
    ), u AS (
        SELECT asset_id, bucket,
               CASE WHEN time_class = 'production' THEN secs ELSE 0 END AS production_s,
               CASE WHEN time_class = 'setup' THEN secs ELSE 0 END AS setup_s,
               CASE WHEN time_class = 'unplanned_down' THEN secs ELSE 0 END AS unplanned_down_s,
               CASE WHEN time_class = 'planned_down' THEN secs ELSE 0 END AS planned_down_s,
               CASE WHEN time_class = 'idle' THEN secs ELSE 0 END AS idle_s,
               CASE WHEN time_class IS NULL THEN secs ELSE 0 END AS unmapped_s,
               starts::integer AS failures, CASE WHEN failure THEN secs ELSE 0 END AS failure_down_s,
               0::float8 AS cutting_s, 0::float8 AS produced, 0::float8 AS good, 0::float8 AS scrap,
               0::float8 AS rework, 0::float8 AS ideal_s, 0::float8 AS energy_kwh, 0::float8 AS energy_main_kwh,
               0::float8 AS opportunities
        FROM split
        UNION ALL
        SELECT asset_id, bucket, 0, 0, 0, 0, 0, 0, 0, 0, secs, 0, 0, 0, 0, 0, 0, 0, 0 FROM cut
        UNION ALL
        SELECT asset_id, bucket, 0, 0, 0, 0, 0, 0, 0, 0, 0, produced, good, scrap, rework, 0, energy, energy_main, 0
        FROM counts
        UNION ALL
        SELECT asset_id, bucket, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, coalesce(weighted, 0), 0, 0, 0 FROM ideal
        UNION ALL
        SELECT asset_id, bucket, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, coalesce(weighted, 0) FROM opp
    ), g AS (
        SELECT asset_id, bucket, sum(production_s) AS production_s, sum(setup_s) AS setup_s,
               sum(unplanned_down_s) AS unplanned_down_s, sum(planned_down_s) AS planned_down_s,
               sum(idle_s) AS idle_s, sum(unmapped_s) AS unmapped_s, sum(failures)::integer AS failures,
               sum(failure_down_s) AS failure_down_s, sum(cutting_s) AS cutting_s, sum(produced) AS produced,
               sum(good) AS good, sum(scrap) AS scrap, sum(rework) AS rework, sum(ideal_s) AS ideal_s,
               sum(energy_kwh) AS energy_kwh, sum(energy_main_kwh) AS energy_main_kwh,
               sum(opportunities) AS opportunities
        FROM u GROUP BY 1, 2
    )
    SELECT asset_id, bucket, production_s, setup_s, unplanned_down_s, planned_down_s, idle_s,
           -- Unknown: the part of the bucket (up to now) that no mapped state covers.
           greatest(extract(epoch FROM least(bucket + p_width, p_t1, greatest(now(), bucket))
                                      - greatest(bucket, p_t0))::float8
                    - production_s - setup_s - unplanned_down_s - planned_down_s - idle_s, 0),
           failures, failure_down_s, cutting_s, produced, good, scrap, rework, ideal_s, energy_kwh,
           energy_main_kwh, opportunities
    FROM g
$$;

-- Time and episodes per asset, bucket and reason code (stop Paretos without reading raw states). An episode
-- counts in the bucket where its (state, code) was first reported inside the range.
CREATE TABLE rollup_stops_1h (
    asset_id    integer NOT NULL,
    bucket      timestamptz NOT NULL,
    code        text NOT NULL,
    state       text NOT NULL,
    time_class  time_class,
    seconds     float8 NOT NULL,
    episodes    integer NOT NULL
);
SELECT create_hypertable('rollup_stops_1h', by_range('bucket', INTERVAL '90 days'), create_default_indexes => false);
CREATE UNIQUE INDEX rollup_stops_1h_idx ON rollup_stops_1h (asset_id, bucket DESC, code, state);

CREATE FUNCTION asset_stops(p_assets integer[], p_t0 timestamptz, p_t1 timestamptz, p_width interval)
RETURNS SETOF rollup_stops_1h LANGUAGE sql STABLE AS $$
    SELECT iv.asset_id, bk, iv.code, iv.state, min(iv.time_class),
           sum(extract(epoch FROM least(iv.t_to, bk + p_width) - greatest(iv.t_from, bk)))::float8,
           (count(*) FILTER (WHERE iv.changed AND bk = time_bucket(p_width, iv.t_from, p_t0)))::integer
    FROM asset_state_intervals(p_assets, p_t0, p_t1) iv
    CROSS JOIN LATERAL generate_series(time_bucket(p_width, iv.t_from, p_t0), iv.t_to - interval '1 microsecond',
                                       p_width) bk
    GROUP BY 1, 2, 3, 4
$$;

-- Everything before the watermark is rolled up; the scheduler recomputes a window behind it for late data.
CREATE TABLE rollup_watermarks (
    name        text PRIMARY KEY,
    watermark   timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Companies opt in to sector benchmarks; the absence of a row means "not shared".
CREATE TABLE benchmark_sharing (
    company_id  integer PRIMARY KEY REFERENCES companies ON DELETE CASCADE,
    shared      boolean NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now(),
    changed_by  text NOT NULL
);

-- Every released benchmark cell with the companies behind it. A later request for the same cell (after an
-- opt-out, or late data) must not release a membership that differs from an earlier release by fewer than the
-- differencing threshold: the two releases together would expose the companies in between.
CREATE TABLE benchmark_releases (
    sector       sector NOT NULL,
    metric       text NOT NULL,
    period       text NOT NULL,
    start        timestamptz NOT NULL,
    dimension    text NOT NULL DEFAULT '',
    value        text NOT NULL DEFAULT '',
    members      integer[] NOT NULL,
    released_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sector, metric, period, start, dimension, value, members)
);
