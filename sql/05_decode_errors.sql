-- mmr.decode_message treats its input as untrusted: a clear ERROR, no crash.
SELECT mmr.decode_message('\x');
SELECT mmr.decode_message('\x42');
SELECT mmr.decode_message('\x5a00');
SELECT mmr.decode_message('\x49000000010000');
SELECT mmr.decode_message('\x54000000000a');
SELECT mmr.decode_message('\x540000000000', 2);
SELECT mmr.decode_message('\x540000000000', 0);
-- A valid TRUNCATE of nothing; two of them in one write (a batch); and one
-- followed by a byte that starts no message.
SELECT mmr.decode_message('\x540000000000');
SELECT mmr.decode_message('\x540000000000540100000000');
SELECT mmr.decode_message('\x54000000000000');
