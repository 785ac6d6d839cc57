"""Guardian HTML fields become plain text (issue 17, bug 8): entities are characters, never markup."""

from __future__ import annotations

from backend.wire.guardian import plain_text


def test_escaped_markup_stays_text_and_real_tags_go():
    assert plain_text("<p>Shares &lt;img src=x onerror=alert(1)&gt; fell</p>") == \
        "Shares <img src=x onerror=alert(1)> fell"


def test_a_greater_than_sign_inside_an_attribute_does_not_leak_the_tag():
    assert plain_text('<a href="/x" title="up > down">Apple</a> results') == "Apple results"


def test_block_tags_and_breaks_separate_words():
    assert plain_text("<p>First paragraph.</p><p>Second.</p>Line<br>break") == "First paragraph. Second. Line break"


def test_entities_and_whitespace():
    assert plain_text("AT&amp;T&nbsp;and \n Verizon&#8217;s deal") == "AT&T and Verizon’s deal"


def test_comments_and_scripts_are_not_text():
    assert plain_text("Hello<!-- hidden --><script>alert(1)</script><style>p{}</style> world") == "Hello world"
