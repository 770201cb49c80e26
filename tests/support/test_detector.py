"""The distress detector: tiers, exclusions, the evaluation goals, and hostile input."""

from __future__ import annotations

import dataclasses
import re

import pytest

from forum.support import detector
from forum.support.detector import (
    LexiconError,
    Signal,
    Tier,
    default_lexicon,
    detect,
    load_lexicon,
    normalise,
)
from forum.support.evaluate import (
    BLIND_DEV_FILE,
    EVAL_FILE,
    GOAL_CRISIS_RECALL,
    GOAL_HEAVY_TOPIC_FALSE_FLAGS,
    GOAL_SUPPORT_RECALL,
    HEAVY_TOPIC,
    main,
    rate,
    read_eval_set,
    score,
)

CRISIS = [
    # suicidal thoughts
    "I've been having suicidal thoughts since the start of the course.",
    "im so suicidal tonight",
    "I keep thinking about suicide.",
    # intent
    "I want to kill myself.",
    "i just want to die",
    "I'm going to end it tonight.",
    "I don't want to be alive anymore.",
    "Part of me wants to die.",
    # plan and means
    "I have a plan for how I'd do it.",
    "I've been saving up my pills.",
    "I keep looking up ways to kill myself.",
    "I'm thinking of taking all my tablets.",
    # self-harm
    "I cut myself again last night.",
    "I've been self-harming to get through the week.",
    # being a burden
    "I feel like a burden to everyone.",
    "My family would be better off without me.",
    "Nobody would notice if I was gone.",
    # hopelessness
    "I can't go on like this.",
    "I can't go on.",
    "I have nothing left to live for.",
    "I wish I'd never been born.",
    # 2026.11-2: broader first-person phrasing (written for the tests, not copied from a set)
    "Honestly my friends would be happier without me.",
    "I hope I don't wake up in the morning.",
    "Sometimes I want to fall asleep and never wake up again.",
    "I'm not going to be around much longer, so thank you all.",
    "I can't see any way out of this except to die.",
    "I've been thinking about slitting my wrists.",
    "My suicidal thoughts have been getting louder every day.",
    "I've been googling how many pills it takes.",
    "I can't picture myself still alive next year.",
]

SUPPORT = [
    # can't cope
    "I can't cope with any of this.",
    "i cant cope anymore",
    "I'm not coping.",
    # really struggling
    "I'm really struggling this week.",
    "I'm falling apart.",
    "I'm not okay.",
    # someone to talk to
    "I need someone to talk to.",
    "I have no one to talk to about this.",
    # panic
    "I had a panic attack after the video.",
    "My heart is racing and I can't stop shaking.",
    # re-traumatised
    "This module has re-traumatised me.",
    "I feel retraumatised by the discussion.",
    "I keep having flashbacks.",
    # wanting to disappear
    "I just want to disappear.",
    "I wish I could vanish for a while.",
    # numb and empty
    "I feel numb and empty.",
    "I feel dead inside.",
    # 2026.11-2
    "I haven't slept properly in four nights.",
    "I just want to crawl into bed and run away from everything.",
    "I've been too scared to leave my room since the session.",
    "I don't know how to keep going with all of this.",
    "I feel like I'm drowning and nobody notices.",
    "I've got no one I can talk to.",
]

NONE = [
    # topic talk, including third person and other people's trauma
    "The article described how lynching terrorised communities.",
    "Police violence kills Black people.",
    "My grandmother's generation was traumatised.",
    "He said he wanted to die.",
    "The statistics on suicide among refugees shocked me.",
    "The novel's narrator considers killing herself.",
    "She'd be better off dead, the villain says.",
    'A man in the film says "I just want to die" and it broke my heart.',
    'The phrase "I can\'t breathe" became a rallying cry.',
    "Many refugees described panic attacks and flashbacks.",
    "I'm struggling to understand why nobody was charged.",
    "I'm numb to the headlines about police shootings.",
    # idioms
    "I'm dying to read the next module.",
    "That joke killed me.",
    "I could kill for a coffee.",
    "I was so embarrassed I wanted to die.",
    "I nearly died laughing.",
    "I'm drowning in readings this week.",
    "I can't cope with people who say that.",
    # everyday
    "I hurt myself playing football.",
    "I can't go on to module 4 until I finish the quiz.",
    "I won't be around next week, I'm on holiday.",
    "I can't sleep on planes.",
    "",
    "   \n\t  ",
    # negation
    "I'm not suicidal.",
    "I don't want to die, I want change.",
    "I would never kill myself.",
    "I've never self-harmed.",
    "I'm not struggling, just busy.",
    # past and resolved
    "I used to feel like a burden but therapy helped.",
    "Years ago I tried to kill myself; I'm in a much better place now.",
    # 2026.11-2: resolution in the next sentence, hedged denial, and the new rules' near misses
    "In my teens I self-harmed. I'm in a much better place now.",
    "I was depressed for years. Therapy helped and I'm stable now.",
    "I wouldn't say I'm struggling, just busy.",
    "I'm not going to be here next week, I'm on holiday.",
    "The group would be fine without me tonight.",
    "I've been hiding in my room studying for exams.",
    "My heart was pounding with excitement at graduation.",
    "Reading about the gun laws, I keep thinking about it.",
    "The suicidal thoughts are constant among survivors, the report said.",
    "I'm too anxious to leave comments on other people's posts.",
    "The world would be better without racism.",
]


@pytest.mark.parametrize("text", CRISIS)
def test_crisis_phrases(text):
    assert detect(text).tier is Tier.CRISIS, text


@pytest.mark.parametrize("text", SUPPORT)
def test_support_phrases(text):
    assert detect(text).tier is Tier.SUPPORT, text


@pytest.mark.parametrize("text", NONE)
def test_topic_talk_idioms_negation_and_resolved_past_are_none(text):
    signal = detect(text)
    assert signal.tier is Tier.NONE, (text, signal.matches)
    assert signal.matches == ()


def test_past_without_resolution_still_counts():
    assert detect("Last week I hurt myself again.").tier is Tier.CRISIS
    assert detect("I was suicidal for months. Now it's worse.").tier is Tier.CRISIS
    assert detect("I used to be fine but now I want to die.").tier is Tier.CRISIS


def test_quoted_words_count_when_the_writer_said_them():
    assert detect('Last night I texted my friend "I want to die".').tier is Tier.CRISIS


def test_crisis_wins_over_support():
    signal = detect("I'm really struggling and I want to kill myself.")
    assert signal.tier is Tier.CRISIS
    assert signal.matches == ("I want to kill myself",)


def test_signal_carries_matches_as_written_and_the_lexicon_version():
    signal = detect("Honestly  I\u2019M REALLY\nstruggling, sorry.")
    assert signal.tier is Tier.SUPPORT
    # As written (case, curly apostrophe), with the line break shown as a space.
    assert signal.matches == ("I\u2019M REALLY struggling",)
    assert signal.lexicon_version == default_lexicon().version
    assert re.fullmatch(r"\d{4}\.\d{2}-\d+", signal.lexicon_version)
    assert detect("Nothing to see here.").lexicon_version == signal.lexicon_version


def test_signal_is_frozen_and_tier_values_are_stable():
    signal = detect("I want to die")
    with pytest.raises(dataclasses.FrozenInstanceError):
        signal.tier = Tier.NONE  # type: ignore[misc]
    assert [t.value for t in Tier] == ["crisis", "support", "none"]
    assert Tier.CRISIS == "crisis"


def test_contractions_and_curly_apostrophes_are_the_same():
    for text in (
        "I can't cope",
        "I cant cope",
        "I cannot cope",
        "I can\u2019t cope",
        "i can t cope",
    ):
        assert detect(text).tier is Tier.SUPPORT, text
    for text in ("I'm suicidal", "Im suicidal", "I am suicidal", "I\u2019m suicidal"):
        assert detect(text).tier is Tier.CRISIS, text


def test_normalise_maps_back_to_the_original_text():
    text = "\u200bHi  I\u2019M\u00a0Here"
    norm, offsets = normalise(text)
    assert norm == "hi i'm here"
    assert len(offsets) == len(norm)
    assert text[offsets[norm.index("i'm")]] == "I"
    # A character that lower-cases to two still maps every output character.
    norm, offsets = normalise("İ want to die")
    assert len(offsets) == len(norm)


def test_matches_are_short_and_few():
    signal = detect("I want to die. " * 50 + "I feel " + "really " * 200 + "numb")
    assert signal.tier is Tier.CRISIS
    assert len(signal.matches) <= detector.MAX_MATCHES
    assert all(len(m) <= detector.MAX_MATCH_CHARS for m in signal.matches)


# Each is about 20k characters of what makes regexes backtrack: endless subjects, fillers,
# quotes, negations, gaps. The detector must stay correct (and, by its bounded patterns,
# fast: every one takes well under 0.1 s on a laptop; only correctness is asserted).
@pytest.mark.parametrize(
    "hostile",
    [
        "i " * 10_000,
        "i'm so really just " * 1_200,
        '"' * 20_000,
        "not " * 5_000,
        "a" * 20_000,
        "i can't " * 2_500,
        ("i feel like " + "x" * 25) * 550,
        "better off if i " * 1_300,
        "so embarrassed " * 1_400,
        "part of me " * 1_800,
        "i'm not saying i'm not really so just kind of always still " * 400,
        "!" * 20_000,
        "\u200b" * 20_000,
    ],
)
def test_hostile_long_input_is_handled(hostile):
    assert len(hostile) >= 19_000
    signal = detect(hostile)
    assert signal.tier is Tier.NONE
    assert signal.matches == ()


@pytest.mark.parametrize(
    "hostile",
    [
        "kill myself " * 1_700,
        # Quote pairs alternate: every other "i want to die" is outside quotes.
        '"i want to die ' * 1_400,
        "i want to die. " * 1_300,
    ],
)
def test_hostile_long_distress_is_still_found(hostile):
    assert len(hostile) >= 19_000
    signal = detect(hostile)
    assert signal.tier is Tier.CRISIS
    assert len(signal.matches) <= detector.MAX_MATCHES


def test_distress_at_the_end_of_a_long_hostile_text_is_found():
    assert detect("i " * 9_990 + "and i want to die").tier is Tier.CRISIS


def test_lexicon_refuses_unbounded_quantifiers_and_unknown_macros(tmp_path):
    bad = tmp_path / "lexicon.toml"
    bad.write_text(
        "version = \"t-1\"\n[[rule]]\ntier = \"crisis\"\nchecks = []\npatterns = ['''a+b''']\n"
    )
    with pytest.raises(LexiconError, match="unbounded"):
        load_lexicon(bad)
    bad.write_text(
        "version = \"t-1\"\n[[rule]]\ntier = \"crisis\"\nchecks = []\npatterns = ['''<nope>''']\n"
    )
    with pytest.raises(LexiconError, match="unknown macro"):
        load_lexicon(bad)
    bad.write_text('version = "t-1"\n[[rule]]\ntier = "none"\nchecks = []\npatterns = ["x"]\n')
    with pytest.raises(LexiconError, match="tier"):
        load_lexicon(bad)


def test_a_custom_lexicon_can_be_passed(tmp_path):
    path = tmp_path / "lexicon.toml"
    path.write_text(
        'version = "test-7"\n[[rule]]\ntier = "support"\ncategory = "x"\nchecks = []\n'
        "patterns = ['''\\bheavy heart\\b''']\n"
    )
    signal = detect("A heavy heart today.", lexicon=load_lexicon(path))
    assert signal == Signal(Tier.SUPPORT, ("heavy heart",), "test-7")


def test_combined_scanners_agree_with_one_scanner_per_rule():
    lexicon = default_lexicon()
    assert len(lexicon.scanners) < len(lexicon.rules)
    one_each = dataclasses.replace(
        lexicon,
        scanners=tuple(
            detector.Scanner(rule.tier, rule.checks, rule.pattern) for rule in lexicon.rules
        ),
    )
    texts = [e.text for e in read_eval_set(EVAL_FILE)] + CRISIS + SUPPORT + NONE
    for text in texts:
        assert detect(text).tier is detect(text, lexicon=one_each).tier, text


def test_packaged_lexicon_loads_every_category():
    lexicon = default_lexicon()
    assert lexicon is default_lexicon()  # compiled once
    categories = {(rule.tier, rule.category) for rule in lexicon.rules}
    for category in ("suicidal_thoughts", "intent", "self_harm", "burden", "means_and_plan"):
        assert (Tier.CRISIS, category) in categories
    for category in ("cant_cope", "really_struggling", "someone_to_talk_to", "panic"):
        assert (Tier.SUPPORT, category) in categories
    for category in ("retraumatised", "disappear", "numb_and_empty"):
        assert (Tier.SUPPORT, category) in categories
    assert lexicon.exclusions


# ------------------------------------------------------------------ the evaluation set


def test_evaluation_set_is_big_enough_and_uses_every_label():
    examples = read_eval_set(EVAL_FILE)
    assert len(examples) >= 150
    labels = {e.label for e in examples}
    assert labels == {Tier.CRISIS, Tier.SUPPORT, Tier.NONE}
    heavy = [e for e in examples if e.label is Tier.NONE and e.category == HEAVY_TOPIC]
    assert len(heavy) >= 50
    assert len({e.text for e in examples}) == len(examples), "duplicate lines"


def test_evaluation_goals_are_met():
    scores = score(read_eval_set(EVAL_FILE))
    assert rate(scores.recall(Tier.CRISIS)) >= GOAL_CRISIS_RECALL
    assert rate(scores.recall(Tier.SUPPORT)) >= GOAL_SUPPORT_RECALL
    assert rate(scores.false_flags(HEAVY_TOPIC)) <= GOAL_HEAVY_TOPIC_FALSE_FLAGS


# The blind dev set was written by someone who never saw the lexicon; 2026.11-2 was tuned on
# its errors. Its sibling, blind_test.tsv, is deliberately NOT asserted here: it is scored
# once per lexicon change and its figures go in evaluation/README.md, as the honest measure.
BLIND_DEV_CRISIS_RECALL = 0.85
BLIND_DEV_SUPPORT_RECALL = 0.7
BLIND_DEV_HEAVY_TOPIC_FALSE_FLAGS = 0.03
BLIND_DEV_NONE_FALSE_FLAGS = 0.05


def test_blind_dev_goals_are_met():
    scores = score(read_eval_set(BLIND_DEV_FILE))
    assert rate(scores.recall(Tier.CRISIS)) >= BLIND_DEV_CRISIS_RECALL
    assert rate(scores.recall(Tier.SUPPORT)) >= BLIND_DEV_SUPPORT_RECALL
    assert rate(scores.false_flags(HEAVY_TOPIC)) <= BLIND_DEV_HEAVY_TOPIC_FALSE_FLAGS
    assert rate(scores.false_flags()) <= BLIND_DEV_NONE_FALSE_FLAGS


def test_support_recall_counts_crisis_but_exact_recall_does_not():
    examples = read_eval_set(EVAL_FILE)
    support = [e for e in examples if e.label is Tier.SUPPORT][:4]
    scores = score(support, detector=lambda text: Signal(Tier.CRISIS, (), "x"))
    assert scores.recall(Tier.SUPPORT) == (4, 4)
    assert scores.recall(Tier.SUPPORT, exact=True) == (0, 4)


def test_read_eval_set_rejects_bad_lines(tmp_path):
    path = tmp_path / "set.tsv"
    path.write_text("# comment\ncrisis\texplicit\tI want to die\nmaybe\tx\ty\n")
    with pytest.raises(ValueError, match=":3: unknown label"):
        read_eval_set(path)
    path.write_text("none\tnot_a_category\tHello\n")
    with pytest.raises(ValueError, match="unknown category"):
        read_eval_set(path)


def test_evaluate_script_prints_the_figures(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    version = default_lexicon().version
    assert f"lexicon version: {version}" in out
    assert re.search(r"^lines: \d{3} \(crisis \d+, support \d+, none \d+\)$", out, re.M)
    for label in (
        "crisis recall (detected as crisis): ",
        "support recall (detected as support or crisis): ",
        "support recall, exact tier (detected as support): ",
        "false flags on heavy-topic reflections: ",
        "false flags on all none lines: ",
    ):
        assert re.search(re.escape(label) + r"[01]\.\d{3} \(\d+/\d+\)", out), label


def test_evaluate_script_takes_another_file(tmp_path, capsys):
    path = tmp_path / "mini.tsv"
    path.write_text(
        "crisis\texplicit\tI want to die\n"
        "support\texplicit\tI feel numb\n"
        "none\theavy_topic\tThe report on suicide rates was grim.\n"
        "none\tidiom\tThat joke killed me\n"
    )
    assert main(["--file", str(path), "--show-errors"]) == 0
    out = capsys.readouterr().out
    assert "lines: 4 (crisis 1, support 1, none 2)" in out
    assert "crisis recall (detected as crisis): 1.000 (1/1)" in out
    assert "false flags on heavy-topic reflections: 0.000 (0/1)" in out
    assert out.rstrip().endswith("errors:")
