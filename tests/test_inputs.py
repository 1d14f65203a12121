"""Every input a user has: encodings, PDF, gzipped tables, carried columns, bad lines, clear errors."""

import csv
import gzip
import json

import pytest

from privacy_clauses.cli import main
from privacy_clauses.data.sources import declared_charset, read_policy
from privacy_clauses.predict.writers import read_jsonl

POLICY_1252 = (
    "Politique de confidentialité\n\nNous conservons vos données pendant 30 jours. "
    "We don’t sell your “personal” data — ever.\n"
)


def make_pdf(lines: list[str]) -> bytes:
    """A one-page PDF with a text layer (Helvetica), written by hand: objects, xref, trailer."""
    stream = "BT /F1 12 Tf 72 720 Td 14 TL " + " ".join(f"({line}) Tj T*" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = "%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n"
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    return out.encode("latin-1")


def predict(tiny_model, inputs, out, *extra):
    return main(["predict", "--model", str(tiny_model), *map(str, inputs), "-o", str(out), *map(str, extra)])


def test_windows_1252_text_is_decoded_by_detection(tmp_path):
    path = tmp_path / "policy.txt"
    path.write_bytes(POLICY_1252.encode("cp1252"))
    policy = read_policy(path)
    assert policy.text == POLICY_1252  # cp1250 and cp1252 agree on these characters; either is right


def test_html_declared_charset_wins_and_latin1_means_windows_1252(tmp_path):
    body = "<p>We don’t sell data. Données conservées 30 jours.</p>"
    page = f'<html><head><meta charset="ISO-8859-1"></head><body>{body}</body></html>'
    path = tmp_path / "page.html"
    path.write_bytes(page.encode("cp1252"))
    assert declared_charset(path.read_bytes()) == "cp1252"
    assert read_policy(path).text == page
    koi8 = '<meta http-equiv="Content-Type" content="text/html; charset=koi8-r"><p>Политика</p>'
    (tmp_path / "ru.html").write_bytes(koi8.encode("koi8-r"))
    assert read_policy(tmp_path / "ru.html").text == koi8


def test_pdf_policy_is_read_through_pypdf(tmp_path):
    path = tmp_path / "policy.pdf"
    path.write_bytes(make_pdf(["Data Retention", "We keep logs for 30 days. We delete them after."]))
    policy = read_policy(path)
    assert "We keep logs for 30 days." in policy.text and policy.fmt == "text"


def test_predict_labels_non_utf8_pdf_and_gzipped_inputs(tiny_model, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "latin.txt").write_bytes(POLICY_1252.encode("cp1252"))
    (folder / "policy.pdf").write_bytes(make_pdf(["We keep logs for 30 days."]))
    with gzip.open(folder / "rows.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.write('{"text": "We share data with advertisers."}\n{"text": "You may opt out."}\n')
    with gzip.open(folder / "table.csv.gz", "wt", encoding="utf-8") as handle:
        handle.write("text\nWe encrypt data.\n")
    out = tmp_path / "out.jsonl"
    assert predict(tiny_model, [folder], out) == 0
    rows = list(read_jsonl(out))
    texts = {r["text"] for r in rows}
    assert "Nous conservons vos données pendant 30 jours." in texts
    assert {"We keep logs for 30 days.", "You may opt out.", "We encrypt data."} <= texts
    latin = next(r for r in rows if r["text"].startswith("Nous"))
    source = read_policy(folder / "latin.txt").text
    assert source[latin["start"] : latin["end"]] == latin["text"]  # offsets index the decoded text
    assert {r["id"] for r in rows if r["source"].endswith(".gz")} == {"rows:1", "rows:2", "table:2"}


def write_table(path, text):
    path.write_text(text, encoding="utf-8")
    return path


TABLE = (
    "policy_id,url,id,text,crawl_date\n"
    "acme,https://acme.example/privacy,1,We collect your email address.,2024-05-01\n"
    "acme,https://acme.example/privacy,2,We keep logs for 30 days.,2024-05-01\n"
    "zeta,https://zeta.example/legal,1,We sell nothing.,2024-05-02\n"
    "zeta,https://zeta.example/legal,2,You may delete your account.,2024-05-02\n"
)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_table_columns_are_carried_and_ids_unique_per_policy(tiny_model, tmp_path, suffix):
    table = write_table(tmp_path / "crawl.csv", TABLE)
    out = tmp_path / f"out{suffix}"
    assert predict(tiny_model, [table], out, "--summary", tmp_path / "s.json") == 0
    if suffix == ".jsonl":
        rows = list(read_jsonl(out))
    elif suffix == ".csv":
        rows = list(csv.DictReader(out.open(encoding="utf-8")))
    else:
        import pyarrow.parquet as pq

        rows = pq.read_table(out).to_pylist()
    assert [r["id"] for r in rows] == ["acme:1", "acme:2", "zeta:1", "zeta:2"]
    assert [r["policy_id"] for r in rows] == ["acme", "acme", "zeta", "zeta"]
    assert rows[2]["url"] == "https://zeta.example/legal" and rows[0]["crawl_date"] == "2024-05-01"
    summary = json.loads((tmp_path / "s.json").read_text())
    assert {name: entry["clauses"] for name, entry in summary.items()} == {"acme": 2, "zeta": 2}


BAD_JSONL = (
    '{"policy_id": "a", "text": "We collect your email."}\n'
    "{broken\n"
    '{"policy_id": "a", "text": ""}\n'
    '["not", "an", "object"]\n'
    '{"policy_id": "a", "id": "x", "text": "We keep logs."}\n'
    '{"policy_id": "a", "id": "x", "text": "Same id again."}\n'
    '{"policy_id": "b", "text": "You may opt out."}\n'
)


def test_one_bad_line_costs_one_line(tiny_model, tmp_path, capsys):
    table = write_table(tmp_path / "rows.jsonl", BAD_JSONL)
    bad_csv = write_table(
        tmp_path / "rows.csv", 'text,url\nWe encrypt data.,u1\n"unterminated,u2,extra\nOk.,u3\n'
    )
    out = tmp_path / "out.jsonl"
    assert predict(tiny_model, [table, bad_csv], out) == 1, "exit status 1: something was rejected"
    labeled = [r["text"] for r in read_jsonl(out)]
    assert labeled == ["We collect your email.", "We keep logs.", "You may opt out.", "We encrypt data."]
    assert "no url here" not in labeled
    rejects = [json.loads(line) for line in (tmp_path / "out.jsonl.rejects.jsonl").read_text().splitlines()]
    found = {(r["file"].rsplit("/", 1)[1], r["line"], r["reason"].split(" (")[0]) for r in rejects}
    assert found == {
        ("rows.jsonl", 2, "invalid JSON"),
        ("rows.jsonl", 3, "missing or empty 'text'"),
        ("rows.jsonl", 4, "expected a JSON object"),
        ("rows.jsonl", 6, "duplicate id 'a:x'; the first one was labeled"),
        ("rows.csv", 3, "expected 2 fields, found 1"),
    }
    assert "rejected: 5 line(s)" in capsys.readouterr().err


def test_clean_run_writes_no_rejects_file_and_exits_0(tiny_model, tmp_path):
    table = write_table(tmp_path / "rows.jsonl", '{"text": "We collect your email."}\n{broken\n')
    assert predict(tiny_model, [table], tmp_path / "out.jsonl") == 1
    assert (tmp_path / "out.jsonl.rejects.jsonl").exists()
    write_table(table, '{"text": "We collect your email."}\n')  # fixed: the old rejects file goes
    assert predict(tiny_model, [table], tmp_path / "out.jsonl") == 0
    assert not (tmp_path / "out.jsonl.rejects.jsonl").exists()


def test_on_error_fail_stops_at_the_first_bad_line(tiny_model, tmp_path, capsys):
    table = write_table(tmp_path / "rows.jsonl", BAD_JSONL)
    assert predict(tiny_model, [table], tmp_path / "out.jsonl", "--on-error", "fail") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and "rows.jsonl:2: invalid JSON" in err[-1]
    assert not (tmp_path / "out.jsonl").exists()


def one_error_line(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("Loading")]
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_missing_and_non_folder_outputs_are_one_error_line(tiny_model, tmp_path, capsys):
    table = write_table(tmp_path / "rows.jsonl", '{"text": "We collect your email."}\n')
    assert predict(tiny_model, [table], tmp_path / "nowhere" / "out.jsonl") == 2
    assert "does not exist" in one_error_line(capsys)
    (tmp_path / "file").write_text("x")
    assert predict(tiny_model, [table], tmp_path / "file" / "out.jsonl") == 2
    assert "is not a folder" in one_error_line(capsys)
    assert not list((tmp_path).glob("**/out.jsonl*"))


def test_unwritable_output_folder_is_one_error_line(tiny_model, tmp_path, capsys, monkeypatch):
    table = write_table(tmp_path / "rows.jsonl", '{"text": "We collect your email."}\n')
    monkeypatch.setattr("os.access", lambda path, mode: False)  # root ignores permissions
    assert predict(tiny_model, [table], tmp_path / "out.jsonl") == 2
    assert "not writable" in one_error_line(capsys)


def test_output_equal_to_an_input_is_refused_and_the_input_kept(tiny_model, tmp_path, capsys):
    table = write_table(tmp_path / "rows.jsonl", '{"text": "We collect your email."}\n')
    assert predict(tiny_model, [table], table) == 2
    assert "is also an input" in one_error_line(capsys)
    assert table.read_text() == '{"text": "We collect your email."}\n'


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_model_is_one_error_line(tiny_model, tmp_path, capsys, damage):
    import shutil

    model = shutil.copytree(tiny_model, tmp_path / "model")
    weights = model / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"\x00garbage")
    table = write_table(tmp_path / "rows.jsonl", '{"text": "We collect your email."}\n')
    assert predict(model, [table], tmp_path / "out.jsonl") == 2
    assert "corrupt or truncated weights" in one_error_line(capsys)
    assert not list(tmp_path.glob("out.jsonl*"))


def test_tables_in_windows_1252_and_a_utf8_table_with_one_bad_line(tiny_model, tmp_path):
    (tmp_path / "latin.csv").write_bytes("text\nNous conservons vos données 30 jours.\n".encode("cp1252"))
    good = '{"text": "Données chiffrées."}\n'.encode()
    mixed = good + b'{"text": "caf\xe9"}\n' + '{"text": "Déjà vu."}\n'.encode()
    (tmp_path / "mixed.jsonl").write_bytes(mixed)
    out = tmp_path / "out.jsonl"
    assert predict(tiny_model, [tmp_path / "latin.csv", tmp_path / "mixed.jsonl"], out) == 1
    assert [r["text"] for r in read_jsonl(out)] == [
        "Nous conservons vos données 30 jours.", "Données chiffrées.", "Déjà vu.",
    ]  # fmt: skip
    rejects = (tmp_path / "out.jsonl.rejects.jsonl").read_text().splitlines()
    assert len(rejects) == 1 and '"line": 2' in rejects[0] and "not valid utf-8" in rejects[0]
