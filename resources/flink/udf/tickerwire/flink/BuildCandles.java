/*
 * Flink process table function build_candles(input => TABLE bars PARTITION BY sym): a symbol's
 * bars in arrival order in, its changed candles (1m, 5m, 15m, 1h, 1d) out. The stateful heart of
 * the candle job, in the JVM so that no row crosses into Python.
 *
 * Semantics are those of the embedded aggregator, backend/processing/aggregator.py (the oracle):
 *   - the latest AM bar of a minute wins in full; a minute without one is built from its A second
 *     bars, each (symbol, second start) an upsert;
 *   - each roll-up merges the level below in time order (5m from 1m, 15m from 5m, 1h from 15m,
 *     1d from the New York day's hours): open of the first child, close of the last, extremes,
 *     volume and price x volume summed in child order, so the doubles are bit-for-bit the oracle's;
 *   - per-symbol event time: the watermark is the latest bar end seen minus the allowed lateness
 *     (15 min). A bar behind it is repaired as the embedded pipeline repairs late bars (late.py):
 *     an AM bar replaces its minute, an A bar is added to it, and every roll-up above is re-folded
 *     exactly. Second bars of minutes behind the watermark leave state; New York days before the
 *     watermark's previous day are evicted. A bar for an evicted day comes out as a row with late_reason set
 *     (the job sends it to the dead-letter topic with its partition and offset), never silently dropped.
 *
 * State per symbol: `meta` (latest bar end, eviction horizon), `children` (every child's values,
 * keyed by start and level) and `accs` (per bucket: the fold of all children before the latest one,
 * plus the latest one). A child arriving in order costs a get and a put per level, whatever the
 * bucket's size; only a correction of an earlier child re-folds its bucket from `children`.
 */
package tickerwire.flink;

import org.apache.flink.table.annotation.ArgumentHint;
import org.apache.flink.table.annotation.ArgumentTrait;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.annotation.StateHint;
import org.apache.flink.table.api.dataview.MapView;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.ProcessTableFunction;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;

import java.time.Instant;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongPredicate;

// Rows in and out are RowData (the runtime's own format): no per-row conversion to and from Row.
@FunctionHint(output = @DataTypeHint(value =
        "ROW<k STRING, timeframe STRING, start_ms BIGINT, o DOUBLE, h DOUBLE, l DOUBLE, c DOUBLE, v DOUBLE, "
                + "vw DOUBLE, n BIGINT, late_reason STRING, src_partition INT, src_offset BIGINT>",
        bridgedTo = RowData.class))
public class BuildCandles extends ProcessTableFunction<RowData> {
    /** The input columns, in this order (the job's `bars` view); read as RowData, without conversion. */
    public static final String INPUT_TYPE = "ROW<sym STRING, ev STRING, s BIGINT, e BIGINT, o DOUBLE, h DOUBLE, "
            + "l DOUBLE, c DOUBLE, v DOUBLE, vw DOUBLE, z DOUBLE, src_partition INT, src_offset BIGINT>";

    /**
     * Without a declared TTL a PTF's state is TTL-wrapped "to allow enabling it later", and TTL'd map
     * state runs an incremental cleanup that copies entries on every access (it made the job ~10x
     * slower). State is bounded here by the eviction below instead.
     */
    static final String NO_TTL = "0 ms";

    static final long MINUTE_MS = 60_000L;
    static final long HOUR_MS = 3_600_000L;
    static final ZoneId NEW_YORK = ZoneId.of("America/New_York");

    // Levels: a child of level k merges into a bucket of level k + 1.
    static final int SECOND = 0, MINUTE = 1, M5 = 2, M15 = 3, H1 = 4, D1 = 5;
    static final String[] TIMEFRAME = {null, "1m", "5m", "15m", "1h", "1d"};
    static final StringData[] TIMEFRAME_DATA = new StringData[TIMEFRAME.length];
    static final StringData AM = StringData.fromString("AM");

    static {
        for (int i = 1; i < TIMEFRAME.length; i++) {
            TIMEFRAME_DATA[i] = StringData.fromString(TIMEFRAME[i]);
        }
    }
    static final long[] LENGTH = {1_000L, MINUTE_MS, 5 * MINUTE_MS, 15 * MINUTE_MS, HOUR_MS, 0L};

    /**
     * Latest bar end seen, the start of the oldest New York day still in state, and the oldest minute
     * that may still hold second bars (0: none yet).
     */
    public static class Meta {
        public long maxEnd;
        public long evictedBefore;
        public long secondsFrom;
    }

    /** A candle's values: prices, volume, price x volume, trades; vw is a minute's own VWAP (minutes only). */
    public static class Vals {
        public double o, h, l, c, v, pv, vw;
        public long n;

        static Vals of(double o, double h, double l, double c, double v, double pv, long n) {
            Vals x = new Vals();
            x.o = o;
            x.h = h;
            x.l = l;
            x.c = c;
            x.v = v;
            x.pv = pv;
            x.n = n;
            return x;
        }

        /** The oracle's merge of time-ordered parts: this (earlier) followed by `next`. */
        Vals then(Vals next) {
            return of(o, next.h > h ? next.h : h, next.l < l ? next.l : l, next.c, v + next.v, pv + next.pv,
                    n + next.n);
        }

        double vwap() {
            return v != 0 ? pv / v : c;
        }
    }

    /**
     * A bucket's fold: `prefix` merges every child before `last` (null when `last` is the first),
     * `lastVals` is the latest child. `am` marks a minute an AM bar has settled; `irregular` a
     * minute with a second bar not aligned to a whole second (re-folded by scanning `children`).
     */
    public static class Acc {
        public long last;
        public Vals prefix;
        public Vals lastVals;
        public boolean am;
        public boolean irregular;

        Vals value() {
            return prefix == null ? lastVals : prefix.then(lastVals);
        }
    }

    private transient long cachedHour = Long.MIN_VALUE;
    private transient long cachedDay;

    @Override
    public void open(FunctionContext context) {
        cachedHour = Long.MIN_VALUE;
    }

    public void eval(
            @StateHint(name = "meta", ttl = NO_TTL) Meta meta,
            @StateHint(name = "children", ttl = NO_TTL) MapView<Long, Vals> children,
            @StateHint(name = "accs", ttl = NO_TTL) MapView<Long, Acc> accs,
            @ArgumentHint(value = ArgumentTrait.SET_SEMANTIC_TABLE, name = "input",
                    type = @DataTypeHint(value = INPUT_TYPE, bridgedTo = RowData.class))
            RowData bar)
            throws Exception {
        boolean am = AM.equals(bar.getString(1));
        long start = bar.getLong(2);
        long end = bar.getLong(3);
        if (start < meta.evictedBefore) {
            collect(GenericRowData.of(null, null, start, null, null, null, null, null, null, null,
                    StringData.fromString("late: the job's state for the New York day of " + Instant.ofEpochMilli(start)
                            + " was evicted (bars end at " + Instant.ofEpochMilli(meta.maxEnd)
                            + "); this bar was not merged"),
                    bar.getInt(11), bar.getLong(12)));
            return;
        }
        boolean late = start < meta.maxEnd - lateness();
        if (!late && end > meta.maxEnd) {
            meta.maxEnd = end;
        }
        double v = bar.getDouble(8);
        double z = bar.getDouble(10);
        long trades = z > 0 ? Math.max(1L, (long) Math.rint(v / z)) : 0L;
        double vw = bar.getDouble(9);
        Vals values = Vals.of(bar.getDouble(4), bar.getDouble(5), bar.getDouble(6), bar.getDouble(7), v, vw * v,
                trades);
        values.vw = vw;
        long minute = start - Math.floorMod(start, MINUTE_MS);
        Vals minuteVals;
        if (late) {
            minuteVals = lateMinute(am, children.get(key(MINUTE, minute)), values);
        } else if (am) {
            Acc acc = accs.get(key(MINUTE, minute));
            if (acc == null) {
                acc = new Acc();
            }
            acc.am = true;
            accs.put(key(MINUTE, minute), acc);
            minuteVals = values;
        } else {
            if (meta.secondsFrom == 0 || minute < meta.secondsFrom) {
                meta.secondsFrom = minute;
            }
            minuteVals = addChild(children, accs, SECOND, start, minute, values);
            if (minuteVals == null) {
                return; // the minute's AM bar is authoritative
            }
            minuteVals.vw = minuteVals.vwap();
        }
        String keyPrefix = bar.getString(0).toString() + "|";
        emit(keyPrefix, MINUTE, minute, minuteVals, minuteVals.vw);
        Vals child = minuteVals;
        long childStart = minute;
        for (int level = MINUTE; level < D1; level++) {
            long bucket = level + 1 == D1 ? nyDayStart(childStart) : childStart - Math.floorMod(childStart, LENGTH[level + 1]);
            child = addChild(children, accs, level, childStart, bucket, child);
            emit(keyPrefix, level + 1, bucket, child, child.vwap());
            childStart = bucket;
        }
        sealSecondsBehind(meta, children, accs);
        evictBehind(meta, children, accs);
    }

    /**
     * A bar behind the watermark, merged as the embedded pipeline's late-bar repair does
     * (backend/processing/late.py): an AM bar, or any bar for a minute without a candle, replaces the
     * minute; an A bar is added to it (its seconds are no longer in state).
     */
    static Vals lateMinute(boolean am, Vals existing, Vals bar) {
        if (am || existing == null) {
            return bar;
        }
        Vals merged = Vals.of(existing.o, Math.max(existing.h, bar.h), Math.min(existing.l, bar.l), bar.c,
                existing.v + bar.v, existing.vw * existing.v + bar.vw * bar.v, existing.n + bar.n);
        merged.vw = merged.vwap();
        return merged;
    }

    /**
     * Drop the second bars (and their folds) of minutes wholly behind the watermark: a bar for such a
     * minute takes the late path, so they are never read again. Keeps state to ~15 minutes of seconds.
     */
    private void sealSecondsBehind(Meta meta, MapView<Long, Vals> children, MapView<Long, Acc> accs)
            throws Exception {
        long sealTo = Math.floorDiv(meta.maxEnd - lateness(), MINUTE_MS) * MINUTE_MS;
        if (meta.secondsFrom == 0 || meta.secondsFrom >= sealTo) {
            return;
        }
        if ((sealTo - meta.secondsFrom) / MINUTE_MS > 1_440) {
            removeSecondsBetween(children, accs, meta.secondsFrom, sealTo); // a long gap: one scan
        } else {
            for (long m = meta.secondsFrom; m < sealTo; m += MINUTE_MS) {
                Acc acc = accs.get(key(MINUTE, m));
                if (acc == null) {
                    continue;
                }
                if (acc.irregular) {
                    removeSecondsBetween(children, accs, m, m + MINUTE_MS);
                } else {
                    for (long s = m; s < m + MINUTE_MS; s += 1_000L) {
                        children.remove(key(SECOND, s));
                    }
                    accs.remove(key(MINUTE, m));
                }
            }
        }
        meta.secondsFrom = sealTo;
    }

    private static void removeSecondsBetween(MapView<Long, Vals> children, MapView<Long, Acc> accs, long from,
                                             long to) throws Exception {
        removeKeys(children, k -> (k & 7) == SECOND && (k >> 3) >= from && (k >> 3) < to);
        removeKeys(accs, k -> (k & 7) == MINUTE && (k >> 3) >= from && (k >> 3) < to);
    }

    /** Remove the entries whose key matches (collected first: a MapView cannot be changed while iterated). */
    private static void removeKeys(MapView<Long, ?> view, LongPredicate stale) throws Exception {
        List<Long> keys = new ArrayList<>();
        for (Long k : view.keys()) {
            if (stale.test(k)) {
                keys.add(k);
            }
        }
        for (Long k : keys) {
            view.remove(k);
        }
    }

    /** Record a child's values and return its bucket's new value (null: an AM minute ignores seconds). */
    private Vals addChild(MapView<Long, Vals> children, MapView<Long, Acc> accs, int level, long childStart,
                          long bucket, Vals values) throws Exception {
        long accKey = key(level + 1, bucket);
        Acc acc = accs.get(accKey);
        if (acc != null && acc.am) {
            return null;
        }
        children.put(key(level, childStart), values);
        boolean irregular = level == SECOND && Math.floorMod(childStart, 1_000L) != 0;
        if (acc == null) {
            acc = new Acc();
            acc.last = childStart;
            acc.lastVals = values;
        } else if (childStart == acc.last) {
            acc.lastVals = values;
        } else if (childStart > acc.last) {
            acc.prefix = acc.value();
            acc.last = childStart;
            acc.lastVals = values;
        } else {
            acc.irregular |= irregular;
            acc.prefix = refold(children, acc, level, bucket);
        }
        acc.irregular |= irregular;
        accs.put(accKey, acc);
        return acc.value();
    }

    /** Fold every stored child of `bucket` before `acc.last`, in time order (a correction of an earlier child). */
    private Vals refold(MapView<Long, Vals> children, Acc acc, int level, long bucket) throws Exception {
        Vals folded = null;
        if (level == SECOND && acc.irregular) {
            List<Long> starts = new ArrayList<>();
            for (Long k : children.keys()) {
                long start = k >> 3;
                if ((k & 7) == SECOND && start >= bucket && start < acc.last) {
                    starts.add(start);
                }
            }
            starts.sort(null);
            for (long start : starts) {
                Vals part = children.get(key(SECOND, start));
                folded = folded == null ? part : folded.then(part);
            }
            return folded;
        }
        long step = LENGTH[level];
        for (long t = bucket; t < acc.last; t += step) {
            Vals part = children.get(key(level, t));
            if (part != null) {
                folded = folded == null ? part : folded.then(part);
            }
        }
        return folded;
    }

    /**
     * Forget New York days before the day preceding the watermark's: a re-sent bar for yesterday is still
     * merged exactly (the embedded pipeline repairs it from its store), older ones are dead-lettered.
     */
    private void evictBehind(Meta meta, MapView<Long, Vals> children, MapView<Long, Acc> accs) throws Exception {
        long cutoff = nyDayStart(nyDayStart(meta.maxEnd - lateness()) - 1); // keep the watermark's day and the one before
        if (cutoff <= meta.evictedBefore) {
            return;
        }
        meta.evictedBefore = cutoff;
        removeKeys(children, k -> (k >> 3) < cutoff);
        removeKeys(accs, k -> (k >> 3) < cutoff);
    }

    /** The allowed lateness (ms): the oracle's default, 15 minutes. */
    protected long lateness() {
        return 15 * MINUTE_MS;
    }

    /** One candle, keyed ``symbol|timeframe|start_ms`` as the candles topic is. */
    private void emit(String keyPrefix, int level, long bucket, Vals x, double vwap) {
        StringData key = StringData.fromString(keyPrefix + TIMEFRAME[level] + "|" + bucket);
        collect(GenericRowData.of(key, TIMEFRAME_DATA[level], bucket, x.o, x.h, x.l, x.c, x.v, vwap, x.n, null, null,
                null));
    }

    /** A state key for a start at a level: starts are < 2^60, levels < 8. */
    static long key(int level, long start) {
        return (start << 3) | level;
    }

    /** Midnight New York of the day containing `ms` (hour starts arrive in runs: the last answer is cached). */
    long nyDayStart(long ms) {
        long hour = ms - Math.floorMod(ms, HOUR_MS);
        if (hour != cachedHour) {
            cachedDay = Instant.ofEpochMilli(hour).atZone(NEW_YORK).toLocalDate().atStartOfDay(NEW_YORK)
                    .toInstant().toEpochMilli();
            cachedHour = hour;
        }
        return cachedDay;
    }
}
