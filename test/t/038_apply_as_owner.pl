# Apply runs each table's changes as the table's owner (SPEC 7): triggers
# of a table owned by a non-superuser run as that owner, never as the
# apply worker's superuser, also when one remote transaction changes
# tables of several owners; a trigger that does what its owner may not do
# stops apply with the permission error in last_error, changes nothing,
# and apply goes on once the owner is given the right.  TRUNCATE triggers run
# as the owner; a deferred trigger stops apply (it cannot run restricted).
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use MmrTest;
use MmrConflictTest;

my ($a, $b) = ct_group(q{
	CREATE ROLE alice LOGIN;
	CREATE TABLE owned (id integer PRIMARY KEY, v text, written_by text);
	CREATE TABLE logged (id integer PRIMARY KEY, v text);
	CREATE TABLE plain (id integer PRIMARY KEY, written_by text);
	CREATE TABLE forbidden (id integer PRIMARY KEY, v text);
	CREATE TABLE secret (id integer PRIMARY KEY, note text);
	CREATE TABLE later (id integer PRIMARY KEY);
	ALTER TABLE later OWNER TO alice;
	ALTER TABLE owned OWNER TO alice;
	ALTER TABLE logged OWNER TO alice;
	ALTER TABLE forbidden OWNER TO alice;
});
my $superuser = ct_sql($b, 'SELECT current_user');

# Triggers on b only, fired by apply (ENABLE ALWAYS).  A BEFORE trigger
# stores the user it runs as in the row; an AFTER trigger (on a table with
# no BEFORE trigger: apply's direct insert path) notes it in a local table.
ct_sql($b, q{
	CREATE TABLE seen (n serial PRIMARY KEY, tab text, usr text);
	ALTER TABLE seen OWNER TO alice;
	CREATE FUNCTION record_writer() RETURNS trigger LANGUAGE plpgsql AS
	  $$ BEGIN NEW.written_by := current_user; RETURN NEW; END $$;
	CREATE TRIGGER record_writer BEFORE INSERT OR UPDATE ON owned
	  FOR EACH ROW EXECUTE FUNCTION record_writer();
	ALTER TABLE owned ENABLE ALWAYS TRIGGER record_writer;
	CREATE TRIGGER record_writer BEFORE INSERT OR UPDATE ON plain
	  FOR EACH ROW EXECUTE FUNCTION record_writer();
	ALTER TABLE plain ENABLE ALWAYS TRIGGER record_writer;
	CREATE FUNCTION note_writer() RETURNS trigger LANGUAGE plpgsql AS
	  $$ BEGIN INSERT INTO seen (tab, usr) VALUES (TG_TABLE_NAME, current_user); RETURN NULL; END $$;
	CREATE TRIGGER note_writer AFTER INSERT ON logged
	  FOR EACH ROW EXECUTE FUNCTION note_writer();
	ALTER TABLE logged ENABLE ALWAYS TRIGGER note_writer;
	CREATE TRIGGER note_truncate AFTER TRUNCATE ON logged
	  FOR EACH STATEMENT EXECUTE FUNCTION note_writer();
	ALTER TABLE logged ENABLE ALWAYS TRIGGER note_truncate;
	CREATE CONSTRAINT TRIGGER note_deferred AFTER INSERT ON later
	  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION note_writer();
	ALTER TABLE later ENABLE ALWAYS TRIGGER note_deferred;
	CREATE FUNCTION steal() RETURNS trigger LANGUAGE plpgsql AS
	  $$ BEGIN INSERT INTO secret VALUES (NEW.id, 'written by ' || current_user); RETURN NEW; END $$;
	CREATE TRIGGER steal BEFORE INSERT ON forbidden
	  FOR EACH ROW EXECUTE FUNCTION steal();
	ALTER TABLE forbidden ENABLE ALWAYS TRIGGER steal;
});

# One remote transaction, three tables, two owners, owners alternating.
ct_sql($a, q{
	BEGIN;
	INSERT INTO owned VALUES (1, 'one', NULL);
	INSERT INTO plain VALUES (1, NULL);
	INSERT INTO logged VALUES (1, 'one');
	INSERT INTO owned VALUES (2, 'two', NULL);
	UPDATE owned SET v = 'one again' WHERE id = 1;
	COMMIT;
});
mmr_wait_caught_up($a);
is(ct_sql($b, q{SELECT string_agg(id || '=' || written_by, ' ' ORDER BY id) FROM owned}),
	'1=alice 2=alice', "BEFORE triggers of alice's table ran as alice on b");
is(ct_sql($b, q{SELECT written_by FROM plain WHERE id = 1}), $superuser,
	'the superuser-owned table of the same transaction ran as its owner');
is(ct_sql($b, q{SELECT string_agg(tab || '=' || usr, ' ' ORDER BY n) FROM seen}),
	'logged=alice', "the AFTER trigger of alice's table ran as alice");
is(ct_sql($a, q{SELECT string_agg(id || '=' || coalesce(written_by, '-'), ' ' ORDER BY id) FROM owned}),
	'1=- 2=-', 'a has no triggers: its rows are as written');

# A trigger doing what its owner may not do: apply stops, nothing is
# written as superuser, what follows waits.
ct_sql($a, q{INSERT INTO forbidden VALUES (1, 'x')});
ct_sql($a, q{INSERT INTO logged VALUES (2, 'after')});
mmr_wait_until($b, q{SELECT state = 'error' FROM mmr.replication_status});
like(ct_sql($b, q{SELECT last_error FROM mmr.replication_status}),
	qr/^permission denied for table secret \(remote transaction \d+ committed at [0-9A-F]+\/[0-9A-F]+\)$/,
	'last_error names the permission the owner lacks, and the remote transaction');
is(ct_sql($b, q{SELECT count(*) FROM secret}), '0', 'the trigger wrote nothing as superuser');
is(ct_sql($b, q{SELECT count(*) FROM forbidden}), '0', 'the change was not applied');

# Given the right, alice's trigger works; the change and the next apply.
ct_sql($b, q{GRANT INSERT ON secret TO alice});
mmr_wait_until($b, q{SELECT count(*) = 2 FROM logged});
is(ct_sql($b, q{SELECT note FROM secret WHERE id = 1}), 'written by alice',
	'after the GRANT the trigger ran, as alice');
is(ct_sql($b, q{SELECT string_agg(v, ',' ORDER BY id) FROM forbidden}), 'x',
	'the stopped change was applied, nothing lost');
mmr_wait_until($b, q{SELECT state = 'streaming' FROM mmr.replication_status});

# The worker's own user is back for everything after alice's changes.
ct_sql($a, q{INSERT INTO plain VALUES (2, NULL)});
mmr_wait_caught_up($a);
is(ct_sql($b, q{SELECT written_by FROM plain WHERE id = 2}), $superuser,
	'a later transaction of a superuser-owned table runs as its owner again');

# A TRUNCATE runs its triggers as its table's owner too.
my $seen = ct_sql($b, q{SELECT max(n) FROM seen});
ct_sql($a, q{TRUNCATE logged});
mmr_wait_caught_up($a);
is(ct_sql($b, qq{SELECT string_agg(tab || '=' || usr, ' ' ORDER BY n) FROM seen WHERE n > $seen}),
	'logged=alice', "the TRUNCATE trigger of alice's table ran as alice");
is(ct_sql($b, q{SELECT count(*) FROM logged}), '0', 'the table was truncated');

# A deferred trigger cannot be queued within the security-restricted
# operation that the owner's changes run in (as in PostgreSQL): apply stops
# with that error rather than firing it at commit as the superuser.
ct_sql($a, q{INSERT INTO later VALUES (1)});
mmr_wait_until($b, q{SELECT state = 'error' FROM mmr.replication_status});
like(ct_sql($b, q{SELECT last_error FROM mmr.replication_status}),
	qr/^cannot fire deferred trigger within security-restricted operation \(remote transaction \d+ committed at /,
	"a deferred trigger of alice's table stops apply");
is(ct_sql($b, q{SELECT count(*) FROM seen WHERE tab = 'later'}), '0',
	'the deferred trigger did not run as anyone');
ct_sql($b, q{DROP TRIGGER note_deferred ON later});
mmr_wait_until($b, q{SELECT state = 'streaming' FROM mmr.replication_status});
mmr_wait_caught_up($a);
is(ct_sql($b, q{SELECT count(*) FROM later}), '1', 'without the deferred trigger the change applies');

done_testing();
