package dev.zq.model.format;

import dev.zq.model.ModelFormatException;
import dev.zq.tensor.DType;
import dev.zq.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class SafeTensorsTest {
    @TempDir
    Path dir;

    @Test
    void roundTripEveryDtypeIncludingOddI4() throws Exception {
        Random rnd = new Random(7);
        try (Arena arena = Arena.ofConfined()) {
            Map<String, Tensor> in = new LinkedHashMap<>();
            for (DType t : new DType[]{DType.F32, DType.F16, DType.BF16, DType.F64}) {
                Tensor x = Tensor.allocate(arena, t, 3, 5);
                for (int i = 0; i < 15; i++) x.setFloat(i, (float) rnd.nextGaussian());
                in.put("w." + t, x);
            }
            Tensor i8 = Tensor.allocate(arena, DType.I8, 7), i32 = Tensor.allocate(arena, DType.I32, 2, 2), i64 = Tensor.allocate(arena, DType.I64, 3);
            for (int i = 0; i < 7; i++) i8.setByte(i, (byte) (rnd.nextInt(256) - 128));
            for (int i = 0; i < 4; i++) i32.setInt(i, rnd.nextInt());
            for (int i = 0; i < 3; i++) i64.setLong(i, rnd.nextLong());
            Tensor i4 = Tensor.allocate(arena, DType.I4, 3, 3);   // 9 nibbles: odd count
            for (int i = 0; i < 9; i++) i4.setI4(i, rnd.nextInt(16) - 8);
            in.put("i8", i8);
            in.put("i32", i32);
            in.put("i64", i64);
            in.put("q.codes", i4);
            in.put("scalar", Tensor.allocate(arena, DType.F32));
            Path f = dir.resolve("m.safetensors");
            SafeTensors.write(f, in, Map.of("format", "pt"));
            // Header length is a multiple of 8, as the spec recommends.
            long headerLen = ByteBuffer.wrap(Files.readAllBytes(f), 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
            assertEquals(0, headerLen % 8);
            try (SafeTensors st = SafeTensors.open(f)) {
                assertEquals(in.keySet(), st.names());
                assertEquals("pt", st.metadata().get("format"));
                for (var e : in.entrySet()) {
                    Tensor got = st.get(e.getKey());
                    assertEquals(e.getValue().dtype(), got.dtype(), e.getKey());
                    assertEquals(e.getValue().shape(), got.shape(), e.getKey());
                    assertArrayEquals(e.getValue().segment().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE),
                            got.segment().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), e.getKey());
                }
                assertThrows(ModelFormatException.class, () -> st.get("missing"));
            }
            assertEquals(1, Files.list(dir).count(), "no temporary file left behind");
        }
    }

    /** A file with {@code header} as its JSON header and {@code dataBytes} zero bytes of data. */
    Path file(String header, int dataBytes) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        Path f = Files.createTempFile(dir, "bad", ".safetensors");
        Files.write(f, b.array());
        return f;
    }

    String fails(Path f) {
        var e = assertThrows(ModelFormatException.class, () -> SafeTensors.open(f).close());
        assertTrue(e.getMessage().startsWith(f.toString()), "message names the file: " + e.getMessage());
        return e.getMessage();
    }

    @Test
    void malformedFilesFailClearly() throws IOException {
        String ok = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
        assertTrue(fails(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4)).contains("outside"));
        assertTrue(fails(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8)).contains("needs 12 bytes"));
        assertTrue(fails(file("{\"a\":{\"dtype\":\"Q7\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8)).contains("unknown dtype"));
        assertTrue(fails(file("{\"a\":{\"dtype\":\"BOOL\",\"shape\":[8],\"data_offsets\":[0,8]}}", 8)).contains("does not support"));
        assertTrue(fails(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8)).contains("invalid dimension"));
        assertTrue(fails(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8)).contains("no 'data_offsets'"));
        assertTrue(fails(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8)).contains("outside"));
        assertTrue(fails(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12)).contains("overlaps"));
        assertTrue(fails(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12)).contains("hole"));
        assertTrue(fails(file(ok, 16)).contains("cover 8 of the 16"));
        assertTrue(fails(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[65536,65536,65536],\"data_offsets\":[0,8]}}", 8)).contains("needs 1125899906842624 bytes"));
        assertTrue(fails(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2147483647,2147483647,2147483647],\"data_offsets\":[0,8]}}", 8)).contains("overflows"));
        assertTrue(fails(file("{not json", 0)).contains("not valid JSON"));
        assertTrue(fails(file("[1,2]", 0)).contains("not a JSON object"));
        assertTrue(fails(file("{\"__metadata__\":{\"k\":1}}", 0)).contains("must be a string"));
        // Header length bigger than the file, absurd, and a file shorter than the length field.
        Path f = dir.resolve("huge.safetensors");
        Files.write(f, ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1L << 60).array());
        assertTrue(fails(f).contains("impossible"));
        Files.write(f, ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(100).array());
        assertTrue(fails(f).contains("impossible"));
        Files.write(f, new byte[3]);
        assertTrue(fails(f).contains("too short"));
        // Truncation of a valid file at every length fails cleanly, never with an unchecked exception.
        Path good = file(ok, 8);
        byte[] all = Files.readAllBytes(good);
        for (int n = 0; n < all.length; n++) {
            Files.write(f, java.util.Arrays.copyOf(all, n));
            fails(f);
        }
        assertThrows(ModelFormatException.class, () -> SafeTensors.open(dir.resolve("absent.safetensors")));
    }
}
