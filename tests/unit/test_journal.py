"""The local stack's data files (engram_local.journal): records survive a reopen in order,
a snapshot covers the journals before the one it names, a torn last line (a write a crash cut
short, never acknowledged) is dropped, and anything else unreadable is a DataError that names
the file and the way out."""

from __future__ import annotations

import pytest

from engram_local.journal import SNAPSHOT, DataDir, DataError, decode, encode, journal_name


def meta(n: int) -> dict:
    return {"k": "meta", "n": f"name-{n}", "v": n}


def opened(path, generation: int = 1) -> DataDir:
    data = DataDir(path)
    data.lock()
    data.open_journal(generation)
    return data


def values(path) -> list:
    data = DataDir(path)
    data.lock()
    try:
        return [r["v"] for r in data.load().records]
    finally:
        data.close()


def test_a_line_is_its_checksum_and_its_json_and_any_changed_byte_fails_it():
    line = encode({"k": "meta", "n": "é", "v": [1, 2]})
    assert line.endswith(b"\n") and decode(line[:-1]) == {"k": "meta", "n": "é", "v": [1, 2]}
    for i in range(len(line) - 1):
        damaged = bytearray(line[:-1])
        damaged[i] ^= 0x01
        assert decode(bytes(damaged)) is None, i


def test_records_come_back_in_order_after_a_reopen(tmp_path):
    data = opened(tmp_path)
    data.append([meta(1), meta(2)])
    data.append([meta(3)], sync=False)
    data.close()
    assert values(tmp_path) == [1, 2, 3]


def test_nothing_there_is_a_first_start(tmp_path):
    data = DataDir(tmp_path / "new")
    data.lock()
    loaded = data.load()
    assert (list(loaded.records), loaded.next_generation, loaded.found) == ([], 1, False)


def test_a_snapshot_covers_the_journals_before_the_one_it_names(tmp_path):
    data = opened(tmp_path)
    data.append([meta(1)])
    data.open_journal(2)
    data.append([meta(2)])
    data.write_snapshot(2, [meta(1)])  # holds what journal 1 held; journal 2 comes after it
    assert not (tmp_path / journal_name(1)).exists()
    data.append([meta(3)])
    data.close()
    loaded = DataDir(tmp_path).load()
    assert [r["v"] for r in loaded.records] == [1, 2, 3]
    assert loaded.next_generation == 3


def test_a_crash_before_old_journals_went_replays_them_after_the_snapshot_harmlessly(tmp_path):
    data = opened(tmp_path)
    data.append([meta(1)])
    data.open_journal(2)
    data.close()
    (tmp_path / SNAPSHOT).write_bytes(
        encode({"format": 1, "journal": 2}) + encode(meta(1)) + encode({"end": 1})
    )
    # journal 1 is still there (the crash came before its removal): the snapshot names 2
    assert values(tmp_path) == [1]


def test_a_torn_last_line_of_the_newest_journal_is_dropped(tmp_path):
    data = opened(tmp_path)
    data.append([meta(1), meta(2)])
    data.close()
    journal = tmp_path / journal_name(1)
    journal.write_bytes(journal.read_bytes() + encode(meta(3))[:-9])  # cut mid-line
    assert values(tmp_path) == [1, 2]


def test_a_damaged_line_stops_the_load_naming_the_file_and_the_way_out(tmp_path):
    data = opened(tmp_path)
    data.append([meta(1), meta(2)])
    data.close()
    journal = tmp_path / journal_name(1)
    journal.write_bytes(journal.read_bytes().replace(b'"v":1', b'"v":7'))
    with pytest.raises(DataError) as caught:
        values(tmp_path)
    message = str(caught.value)
    assert str(journal) in message and "line 1" in message and "--fresh" in message


def test_a_torn_line_in_an_older_journal_is_damage(tmp_path):
    data = opened(tmp_path)
    data.append([meta(1)])
    data.close()
    older = tmp_path / journal_name(1)
    older.write_bytes(older.read_bytes() + b"0000")
    data = opened(tmp_path, 2)
    data.append([meta(2)])
    data.close()
    with pytest.raises(DataError, match="unfinished last line"):
        values(tmp_path)


def test_a_snapshot_cut_short_or_without_its_header_is_damage(tmp_path):
    snapshot = tmp_path / SNAPSHOT
    snapshot.write_bytes(encode({"format": 1, "journal": 1}) + encode(meta(1)))
    with pytest.raises(DataError, match="cut short"):
        values(tmp_path)
    snapshot.write_bytes(encode(meta(1)) + encode({"end": 0}))
    with pytest.raises(DataError, match="header"):
        values(tmp_path)
    snapshot.write_bytes(encode({"format": 1, "journal": 1}) + encode({"end": 5}))
    with pytest.raises(DataError, match="5 records announced"):
        values(tmp_path)


def test_an_unreadable_file_says_so(tmp_path):
    (tmp_path / journal_name(1)).mkdir()  # unreadable as a file, even for root
    with pytest.raises(DataError, match=f"{journal_name(1)} cannot be read"):
        values(tmp_path)


def test_one_stack_per_data_directory(tmp_path):
    first = opened(tmp_path)
    second = DataDir(tmp_path)
    with pytest.raises(DataError, match="Another Engram is using"):
        second.lock()
    first.close()
    second.lock()
    second.close()


def test_erase_removes_the_data_files_only(tmp_path):
    data = opened(tmp_path)
    data.append([meta(1)])
    data.write_snapshot(1, [meta(1)])
    (tmp_path / "dev.env").write_text("ENGRAM_URL=x\n")
    data.erase()
    data.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dev.env", "lock"]
    assert values(tmp_path) == []


def test_the_data_files_are_private(tmp_path):
    data = opened(tmp_path)
    data.append([meta(1)])
    data.open_journal(2)
    data.write_snapshot(2, [meta(1)])
    data.close()
    for name in (journal_name(2), SNAPSHOT):
        assert (tmp_path / name).stat().st_mode & 0o077 == 0, name
