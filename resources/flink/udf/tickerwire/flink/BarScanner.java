/*
 * parse_bar's fast path: one strict pass over a message's bytes that accepts a flat, valid v1 bar
 * record as it stands -- no tokens, no JSON tree, no strings but the symbol -- and gives up (null)
 * on anything else, which ParseBar then parses again as a tree to find the reason.
 *
 * Strict means a subset of JSON: an object of ASCII strings without escapes, numbers, true, false
 * and null, with JSON's four whitespace characters. Anything outside it (an escape, a non-ASCII
 * byte, a nested value, a malformed number, trailing bytes) is left to the tree, so this pass never
 * accepts what the tree rejects. Doubles are correctly rounded, as Double.parseDouble and Python's
 * float: exactly (Clinger's fast path) when the digits fit 2^53 and the power of ten is at most 22,
 * else by Jackson's parser. Duplicate keys: the last value counts, as in the tree and in Python.
 */
package tickerwire.flink;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.io.NumberInput;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;

import java.nio.charset.StandardCharsets;

final class BarScanner {
    private static final StringData A = StringData.fromString("A");
    private static final StringData AM = StringData.fromString("AM");
    /** Exact powers of ten as doubles (10^22 is the largest). */
    private static final double[] POWERS_OF_TEN = new double[23];
    private static final long MAX_EXACT = 1L << 53;

    static {
        POWERS_OF_TEN[0] = 1.0;
        for (int i = 1; i < POWERS_OF_TEN.length; i++) {
            POWERS_OF_TEN[i] = POWERS_OF_TEN[i - 1] * 10.0;
        }
    }

    /** Leaves the pass: the message is not in the subset, or not a valid bar as it stands. */
    private static final class GiveUp extends RuntimeException {
        GiveUp() {
            super(null, null, false, false);
        }
    }

    private static final GiveUp GIVE_UP = new GiveUp();

    private final byte[] in;
    private int at;
    // The record so far.
    private boolean typeOk, versionOk, otcOk = true, hasS, hasE;
    private StringData ev;
    private String sym;
    private long s, e;
    private final double[] prices = new double[6]; // o h l c v vw
    private int pricesSeen; // bit per price field
    private double z;
    // The number just read.
    private boolean integral;
    private long integer;

    private BarScanner(byte[] in) {
        this.in = in;
    }

    /** The row of a flat, valid bar record (ParseBar's row type, error null); null for anything else. */
    static RowData scan(byte[] json) {
        BarScanner scanner = new BarScanner(json);
        try {
            scanner.object();
        } catch (GiveUp | ArrayIndexOutOfBoundsException notInSubset) {
            return null;
        }
        return scanner.row();
    }

    private RowData row() {
        if (!typeOk || !versionOk || ev == null || sym == null || sym.isEmpty() || !hasS || !hasE
                || pricesSeen != 0b111111 || !otcOk || prices[4] < 0 || z < 0) {
            return null;
        }
        return GenericRowData.of(ev, StringData.fromString(sym), s, e, prices[0], prices[1], prices[2], prices[3],
                prices[4], prices[5], z, null);
    }

    private void object() {
        whitespace();
        expect('{');
        whitespace();
        if (in[at] == '}') {
            at++;
        } else {
            do {
                whitespace();
                expect('"');
                int nameStart = at;
                int nameEnd = stringEnd();
                whitespace();
                expect(':');
                whitespace();
                field(nameStart, nameEnd - nameStart);
                whitespace();
            } while (in[at++] == ',');
            if (in[at - 1] != '}') {
                throw GIVE_UP;
            }
        }
        whitespace();
        if (at != in.length) {
            throw GIVE_UP;
        }
    }

    /** Read the value of the field whose name is in[start, start + length). */
    private void field(int start, int length) {
        byte first = in[start];
        switch (length) {
            case 1 -> {
                switch (first) {
                    case 's' -> {
                        number();
                        hasS = integral;
                        s = integer;
                    }
                    case 'e' -> {
                        number();
                        hasE = integral;
                        e = integer;
                    }
                    case 'o' -> price(0);
                    case 'h' -> price(1);
                    case 'l' -> price(2);
                    case 'c' -> price(3);
                    case 'v' -> price(4);
                    case 'a' -> finite(number());
                    case 'z' -> z = finite(number());
                    default -> skipValue();
                }
            }
            case 2 -> {
                if (is(start, "ev")) {
                    int from = at + 1;
                    int to = string();
                    ev = to - from == 1 && in[from] == 'A' ? A
                            : to - from == 2 && in[from] == 'A' && in[from + 1] == 'M' ? AM : null;
                } else if (is(start, "vw")) {
                    price(5);
                } else if (is(start, "av") || is(start, "op")) {
                    finite(number());
                } else {
                    skipValue();
                }
            }
            case 3 -> {
                if (is(start, "sym")) {
                    int from = at + 1;
                    sym = new String(in, from, string() - from, StandardCharsets.US_ASCII);
                } else if (is(start, "otc")) {
                    otcOk = literal() != 'n';
                } else {
                    skipValue();
                }
            }
            case 4 -> {
                if (is(start, "type")) {
                    int from = at + 1;
                    typeOk = string() - from == 3 && in[from] == 'b' && in[from + 1] == 'a' && in[from + 2] == 'r';
                } else {
                    skipValue();
                }
            }
            case 7 -> {
                if (is(start, "version")) {
                    number();
                    versionOk = integral && integer == Records.SCHEMA_VERSION;
                } else {
                    skipValue();
                }
            }
            default -> skipValue();
        }
    }

    private void price(int index) {
        prices[index] = finite(number());
        pricesSeen |= 1 << index;
    }

    private static double finite(double x) {
        if (!Double.isFinite(x)) {
            throw GIVE_UP;
        }
        return x;
    }

    private boolean is(int start, String name) {
        for (int i = 0; i < name.length(); i++) {
            if (in[start + i] != name.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    private void skipValue() {
        byte c = in[at];
        if (c == '"') {
            string();
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            number();
        } else {
            literal(); // a nested object or array gives up
        }
    }

    /** A string value at `at`; returns where it ends (its closing quote), `at` past it. */
    private int string() {
        expect('"');
        return stringEnd();
    }

    /** Past a string's opening quote: find its closing quote (returned), `at` past it. */
    private int stringEnd() {
        while (true) {
            byte c = in[at++];
            if (c == '"') {
                return at - 1;
            }
            if (c == '\\' || c < 0x20) { // an escape, a control character or a non-ASCII byte (negative)
                throw GIVE_UP;
            }
        }
    }

    /** true, false or null at `at`; returns its first letter. */
    private byte literal() {
        byte c = in[at];
        String word = c == 't' ? "true" : c == 'f' ? "false" : c == 'n' ? "null" : null;
        if (word == null || at + word.length() > in.length || !is(at, word)) {
            throw GIVE_UP;
        }
        at += word.length();
        return c;
    }

    /**
     * A JSON number at `at`: sets `integral` (no fraction or exponent, and it fits a long's 18 digits)
     * and `integer`, and returns its value as a correctly rounded double (an integer's as a long's).
     */
    private double number() {
        int start = at;
        boolean negative = in[at] == '-';
        if (negative) {
            at++;
        }
        long digits = 0;
        int significant = 0; // digits kept in `digits`
        int dropped = 0; // integer digits beyond 18: not exact, parsed the slow way
        if (in[at] == '0') {
            at++;
        } else if (in[at] >= '1' && in[at] <= '9') {
            while (at < in.length && in[at] >= '0' && in[at] <= '9') {
                if (significant < 18) {
                    digits = digits * 10 + (in[at] - '0');
                    significant++;
                } else {
                    dropped++;
                }
                at++;
            }
        } else {
            throw GIVE_UP;
        }
        int exponent = dropped;
        boolean plain = dropped == 0;
        integral = plain;
        if (at < in.length && in[at] == '.') {
            at++;
            integral = false;
            int fractionStart = at;
            while (at < in.length && in[at] >= '0' && in[at] <= '9') {
                if (significant < 18) { // leading zeros of a fraction are kept without counting
                    digits = digits * 10 + (in[at] - '0');
                    significant += digits != 0 ? 1 : 0;
                    exponent--;
                } else {
                    plain = false; // digits dropped: not exact, parsed the slow way
                }
                at++;
            }
            if (at == fractionStart) {
                throw GIVE_UP;
            }
        }
        if (at < in.length && (in[at] == 'e' || in[at] == 'E')) {
            at++;
            integral = false;
            boolean negativeExponent = in[at] == '-';
            if (in[at] == '-' || in[at] == '+') {
                at++;
            }
            int exponentStart = at;
            int value = 0;
            while (at < in.length && in[at] >= '0' && in[at] <= '9') {
                value = Math.min(value * 10 + (in[at] - '0'), 100_000);
                at++;
            }
            if (at == exponentStart) {
                throw GIVE_UP;
            }
            exponent += negativeExponent ? -value : value;
        }
        integer = negative ? -digits : digits;
        if (integral) {
            return integer; // as the tree and Python read an integer: -0 is 0.0, and a long rounds to nearest
        }
        if (plain && digits < MAX_EXACT && Math.abs(exponent) < POWERS_OF_TEN.length) {
            double exact = exponent >= 0 ? digits * POWERS_OF_TEN[exponent] : digits / POWERS_OF_TEN[-exponent];
            return negative ? -exact : exact;
        }
        char[] text = new char[at - start];
        for (int i = 0; i < text.length; i++) {
            text[i] = (char) in[start + i];
        }
        return NumberInput.parseDouble(text, 0, text.length, true);
    }

    private void whitespace() {
        while (at < in.length) {
            byte c = in[at];
            if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
                return;
            }
            at++;
        }
    }

    private void expect(char c) {
        if (in[at++] != c) {
            throw GIVE_UP;
        }
    }
}
