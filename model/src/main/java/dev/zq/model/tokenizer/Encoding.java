package dev.zq.model.tokenizer;

/**
 * A tokenized text: token ids, token type (segment) ids, attention mask (0 for padding), the token strings
 * and each token's {@code [start, end)} span in the original string in UTF-16 units ({@code [0, 0]} for
 * special and padding tokens).
 */
public record Encoding(int[] ids, int[] typeIds, int[] attentionMask, String[] tokens, int[][] offsets) {
    public int length() { return ids.length; }
}
