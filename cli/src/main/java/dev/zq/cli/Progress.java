package dev.zq.cli;

import java.io.PrintStream;

/**
 * A one-line progress meter on stderr ({@code label n/total, rate, ETA}). Silent for work that finishes
 * within a second, and redrawn at most a few times a second.
 */
final class Progress {
    private final PrintStream out;
    private final String label;
    private final long total;
    private final long start = System.nanoTime();
    private long lastDraw;
    private boolean drawn;

    Progress(PrintStream out, String label, long total) {
        this.out = out;
        this.label = label;
        this.total = total;
    }

    void update(long done) {
        long now = System.nanoTime();
        if (now - start < 1_000_000_000L || (now - lastDraw < 200_000_000L && done < total)) return;
        lastDraw = now;
        double secs = (now - start) / 1e9, rate = done / secs;
        String eta = rate > 0 && total > done ? String.format(", ETA %.0fs", (total - done) / rate) : "";
        out.printf("\r%s %d/%d (%.1f/s%s)   ", label, done, total, rate, eta);
        out.flush();
        drawn = true;
    }

    void done() {
        if (drawn) out.printf("%n");
    }
}
