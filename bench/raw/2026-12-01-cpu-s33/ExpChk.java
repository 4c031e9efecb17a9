import jdk.incubator.vector.*;
public class ExpChk {
    public static void main(String[] a) {
        VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
        float[] x = new float[S.length()], out = new float[S.length()], first = new float[S.length()];
        java.util.Random r = new java.util.Random(1);
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian() * 3;
        FloatVector.fromArray(S, x, 0).lanewise(VectorOperators.EXP).intoArray(first, 0);
        int diff = 0;
        for (int it = 0; it < 200000; it++) {
            FloatVector.fromArray(S, x, 0).lanewise(VectorOperators.EXP).intoArray(out, 0);
            for (int i = 0; i < x.length; i++) if (Float.floatToRawIntBits(out[i]) != Float.floatToRawIntBits(first[i])) { diff++; break; }
        }
        System.out.println("lanewise EXP calls differing from the first: " + diff + " of 200000");
    }
}
