"""README.md and docs/*.md: every relative link resolves, to a file and, with a #fragment, to a heading there."""
import os
import re

from conftest import ROOT


def heading_anchors(path):
    """GitHub's anchors of a markdown file's headings: lower case, punctuation dropped, spaces as hyphens."""
    anchors = set()
    with open(path) as f:
        for line in f:
            heading = re.match(r"#+\s+(.*)", line)
            if heading:
                anchors.add(re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-"))
    return anchors


def broken_links(root):
    documents = ["README.md"] + [os.path.join("docs", f) for f in sorted(os.listdir(os.path.join(root, "docs")))
                                 if f.endswith(".md")]
    broken = []
    for document in documents:
        with open(os.path.join(root, document)) as f:
            text = f.read()
        for link in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", link):  # https:, mailto:
                continue
            path, _, fragment = link.partition("#")
            target = os.path.normpath(os.path.join(root, os.path.dirname(document), path)) if path else \
                os.path.join(root, document)
            if not os.path.exists(target):
                broken.append(f"{document}: {link} (no such file)")
            elif fragment and target.endswith(".md") and fragment not in heading_anchors(target):
                broken.append(f"{document}: {link} (no such heading)")
    return broken


def test_every_relative_link_in_the_docs_resolves():
    assert broken_links(ROOT) == []


def test_a_link_to_a_missing_file_or_heading_is_found(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A title, with punctuation\n")
    (tmp_path / "README.md").write_text("[ok](docs/a.md#a-title-with-punctuation) [web](https://x.org/#y) "
                                        "[gone](docs/b.md) [no heading](docs/a.md#other) [self](#nowhere)\n")
    assert broken_links(str(tmp_path)) == ["README.md: docs/b.md (no such file)",
                                           "README.md: docs/a.md#other (no such heading)",
                                           "README.md: #nowhere (no such heading)"]
