package dev.zq.runtime;

/** A launch geometry: {@code groups} blocks of {@code local} threads, in x and y. */
public record Grid(int groupsX, int groupsY, int localX, int localY) {
    public Grid {
        if (groupsX <= 0 || groupsY <= 0 || localX <= 0 || localY <= 0 || (long) localX * localY > 1024)
            throw new IllegalArgumentException("invalid grid " + groupsX + "x" + groupsY + " blocks of " + localX + "x" + localY
                    + " threads (each positive, at most 1024 threads per block)");
    }

    /** Enough blocks of {@code local} threads to cover {@code global} threads along x. */
    public static Grid cover(int global, int local) {
        return new Grid(Math.max(1, Math.ceilDiv(global, local)), 1, local, 1);
    }

    public static Grid of(int groupsX, int localX) { return new Grid(groupsX, 1, localX, 1); }

    public int threadsPerBlock() { return localX * localY; }
}
