"""axe-core on every page of every role's main path, on the demo data: no serious or
critical violation anywhere.

One live server on the demo data (``flask demo seed``) serves the whole module. Each role
walks its path as in the path tests (test_forum_in_browser, test_journals_in_browser,
test_moderation_in_browser, test_unsubscribe_in_browser), and axe runs on each page it
reaches. Audited pages are opened with ``bypass_csp=True`` (axe is injected inline); the
path tests themselves run under the real CSP.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from forum.accounts.models import Role, User
from forum.accounts.services import create_user
from forum.courses.models import Prompt
from forum.demo import DEMO_PASSWORD
from forum.extensions import db
from forum.signals import signup_confirmation_requested
from forum.threads.services import create_post
from notifications.worker import run_once
from tests.conftest import _empty_all_tables, make_test_app
from tests.e2e.a11y import Audit
from tests.e2e.conftest import LiveServer
from tests.e2e.helpers import emails_to, list_unsubscribe_url, log_in

pytestmark = pytest.mark.e2e

COURSE = "/c/learning-to-be-an-ally"
MODULE = COURSE + "/noticing"
THREAD = MODULE + "/first-memory"
NEWCOMER = "newcomer@example.com"
NEWCOMER_NAME = "Nell Newcomer"


@pytest.fixture(scope="module")
def demo_site(_schema, database_url, tmp_path_factory):
    """The demo course, accounts, reflections, journals and moderation queue, served live."""
    mail = tmp_path_factory.mktemp("mail")
    server = LiveServer(make_test_app(database_url))
    server.app.config.update(
        BASE_URL=server.url,
        NOTIFICATIONS_TRANSPORT="file",
        NOTIFICATIONS_MAIL_DIR=str(mail),
        NOTIFICATIONS_EDIT_WINDOW=0,
        NOTIFICATIONS_DIGEST_HOUR=None,
    )
    server.mail = mail
    started = False
    try:
        result = server.app.test_cli_runner().invoke(args=["demo", "seed"])
        assert result.exit_code == 0, result.output
        with server.app.app_context():
            # A newcomer with no journal entry yet: the first-entry notice shows.
            create_user(
                NEWCOMER, NEWCOMER_NAME, DEMO_PASSWORD, role=Role.PARTICIPANT, confirmed=True
            )
            db.session.commit()
        server.start()
        started = True
        yield server
    finally:
        if started:
            server.stop()
        _empty_all_tables(server.app)  # the next module starts from empty tables


@pytest.fixture
def audit():
    """Collects each page's findings; the test ends with ``audit.assert_clean()``."""
    return Audit()


@pytest.fixture
def as_(new_page, demo_site):
    """A page for an audit, logged in as ``email`` (None: anonymous)."""

    def _as(email: str | None = None, **options):
        page = new_page(bypass_csp=True, **options)
        if email:
            log_in(page, demo_site.url, email, DEMO_PASSWORD)
        return page

    return _as


def _visit(page, url: str, audit: Audit, label: str) -> None:
    page.goto(url)
    audit(page, label)


def test_a_reader_without_an_account(as_, demo_site, audit):
    base = demo_site.url
    page = as_()
    for path, label in [
        ("/", "home: courses"),
        (COURSE, "course"),
        (MODULE, "module"),
        (THREAD, "thread, anonymous"),
        ("/account/login", "log in"),
        ("/account/signup", "sign up"),
        ("/guidelines", "community guidelines"),
        ("/support/resources", "support resources"),
    ]:
        _visit(page, base + path, audit, label)
    response = page.goto(base + "/no-such-page")
    assert response is not None and response.status == 404
    audit(page, "404 error page")
    # On a phone, too.
    phone = as_(viewport={"width": 390, "height": 844})
    _visit(phone, base + THREAD, audit, "thread, anonymous, phone")

    # A form sent back with its errors.
    page.goto(base + "/account/login")
    page.get_by_label("Email address").fill("nobody@example.com")
    page.get_by_label("Password", exact=True).fill("not the password")
    page.get_by_role("button", name=re.compile("log in", re.I)).click()
    expect(page).to_have_url(re.compile("/account/login"))
    audit(page, "log in, refused")

    # Signing up: the inbox page, then the link from the confirmation email.
    links: list[str] = []
    with signup_confirmation_requested.connected_to(lambda app, user, url: links.append(url)):
        page.goto(base + "/account/signup")
        page.get_by_label("Email address").fill("someone-new@example.com")
        page.get_by_label("Display name").fill("Someone New")
        page.get_by_label("Password", exact=True).fill("a long and unusual passphrase 42")
        page.get_by_role("button", name=re.compile("sign up", re.I)).click()
        expect(page.get_by_role("heading", level=1)).to_contain_text(re.compile("inbox", re.I))
    audit(page, "sign up: check your inbox")
    [link] = links
    _visit(page, link, audit, "sign up: confirm")
    audit.assert_clean()


def test_a_newcomer_posts_replies_edits_and_manages_email(as_, demo_site, audit):
    base = demo_site.url
    page = as_(NEWCOMER)
    _visit(page, base + THREAD, audit, "thread, signed in")
    response = page.goto(base + THREAD + "/posts")
    assert response is not None and response.ok and page.url.endswith("/posts")
    audit(page, "compose a reflection")
    page.get_by_role("textbox", name="Your reflection").fill("I first noticed it at school.")
    page.get_by_role("button", name="Post reflection").click()
    mine = page.locator("article").filter(has_text="I first noticed it at school").first
    expect(mine).to_be_visible()
    audit(page, "thread, after posting")
    mine.get_by_role("link", name=re.compile("^reply", re.I)).click()
    audit(page, "reply")
    page.get_by_role("textbox", name=re.compile("^Your reply")).fill("And again at work.")
    page.get_by_role("button", name=re.compile("^Post reply")).click()
    mine = page.locator("article").filter(has_text="I first noticed it at school").first
    mine.get_by_role("link", name=re.compile("^edit", re.I)).click()
    audit(page, "edit a post")
    _visit(page, base + "/account/settings", audit, "account settings")
    _visit(page, base + "/notifications/preferences", audit, "email preferences")
    _visit(page, base + "/moderation/notices", audit, "notices")
    response = page.goto(base + "/moderation/queue")
    assert response is not None and response.status == 403
    audit(page, "403 error page")
    page.goto(base + THREAD + "/posts")
    page.get_by_role("button", name="Post reflection").click()
    expect(page.locator(".field-error")).to_be_visible()
    audit(page, "compose, sent back empty")
    audit.assert_clean()


def test_a_subscriber_unsubscribes_from_an_email(as_, demo_site, audit):
    with demo_site.app.app_context():
        other = db.session.execute(
            select(User).where(User.email == "participant2@example.com")
        ).scalar_one()
        prompt = db.session.execute(
            select(Prompt).where(Prompt.slug == "first-memory")
        ).scalar_one()
        create_post(other, prompt, "A new thought for whoever watches this thread.")
        db.session.commit()
        run_once()
    messages = emails_to(demo_site.mail, "participant@example.com")
    assert messages, "the demo participant, who posted in the thread, watches it"
    page = as_()  # a mail client: no session
    _visit(page, list_unsubscribe_url(messages[-1]), audit, "unsubscribe: confirm")
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("You're unsubscribed")
    audit(page, "unsubscribe: done")
    audit.assert_clean()


def test_a_learner_writes_and_asks_for_help_and_a_facilitator_replies(as_, demo_site, audit):
    base = demo_site.url
    learner = as_(NEWCOMER)
    _visit(learner, base + "/journal", audit, "my journal (empty)")
    learner.goto(base + MODULE)
    learner.get_by_role("link", name="Write in your journal").click()
    expect(
        learner.get_by_role("heading", name=re.compile("who reads your journal"))
    ).to_be_visible()
    audit(learner, "journal: write, with the first-entry notice")
    learner.get_by_label("Your entry").fill("This week was much harder than I expected.")
    learner.get_by_role("button", name="Save entry").click()
    expect(learner.get_by_text("Waiting to be read")).to_be_visible()
    audit(learner, "journal entry")
    entry_url = learner.url
    response = learner.goto(entry_url + "/support")
    assert response is not None and response.ok and learner.url.endswith("/support")
    audit(learner, "support request form")
    learner.goto(entry_url)
    learner.get_by_label("I need help now").check()
    learner.get_by_role("button", name="Ask for support").click()
    expect(learner.locator("main > *").first).to_contain_text("If you need help right now")
    audit(learner, "journal entry with the crisis resources (help now)")

    staff = as_("facilitator@example.com")
    staff.get_by_role("link", name="Support queue").click()
    # The demo's own help-now requests share the top tier: find the newcomer's.
    item = staff.locator(".queue-item").filter(has_text=NEWCOMER_NAME).first
    expect(item).to_contain_text("Asked for help now")
    audit(staff, "facilitator queue")
    item.get_by_role("link", name=re.compile("^Details")).click()
    audit(staff, "facilitator queue item")
    staff.get_by_role("button", name=re.compile("^Claim")).first.click()
    staff.get_by_role("button", name=re.compile("^Open entry")).first.click()
    expect(staff.get_by_text("This week was much harder than I expected.")).to_be_visible()
    audit(staff, "journal entry, facilitator's view")
    staff.get_by_label(f"Reply to {NEWCOMER_NAME}").fill("Thank you for telling me.")
    staff.get_by_role("button", name="Send reply").click()
    expect(staff.get_by_text("Your reply is sent")).to_be_visible()
    _visit(staff, base + "/support/dashboard", audit, "facilitator dashboard (chart)")
    assert staff.locator("main svg").count() >= 1, "the dashboard draws its chart in SVG"

    learner.goto(entry_url)
    expect(learner.get_by_text("Thank you for telling me.")).to_be_visible()
    audit(learner, "journal entry with the conversation, author's view")
    _visit(learner, base + "/journal", audit, "my journal")
    audit.assert_clean()


def test_a_participant_flags_a_moderator_hides_and_the_author_appeals(as_, demo_site, audit):
    base = demo_site.url
    flagger = as_("participant2@example.com")
    flagger.goto(base + THREAD)
    post = flagger.locator("article").filter(has_text="I first noticed it at school").first
    post.get_by_role("link", name=re.compile("^Flag")).click()
    audit(flagger, "flag a post")
    flagger.get_by_label("Harassment, hate or dehumanising language").check()
    flagger.get_by_role("button", name="Send to the moderators").click()
    expect(flagger.get_by_role("status").first).to_contain_text("A moderator will look")

    mod = as_("moderator@example.com")
    _visit(mod, base + "/moderation/queue", audit, "moderation queue")
    mod.get_by_role("link", name=re.compile(f"^Review the item by {NEWCOMER_NAME}")).first.click()
    audit(mod, "moderation item")
    mod.get_by_label("Hide it").check()
    mod.get_by_label(re.compile("^Reason")).fill("Testing the appeal path.")
    mod.get_by_role("button", name="Decide").click()
    expect(mod.get_by_role("status").first).to_contain_text("Decided")
    _visit(mod, base + "/moderation/audit", audit, "audit log")

    author = as_(NEWCOMER)
    author.goto(base + THREAD)
    author.get_by_role("link", name="Why isn't this shown?").first.click()
    audit(author, "why a post is hidden")
    author.get_by_role("link", name="Appeal this decision").click()
    audit(author, "appeal")
    author.get_by_label(re.compile("Why should another moderator")).fill("Please look again.")
    author.get_by_role("button", name="Send my appeal").click()
    expect(author.get_by_role("status").first).to_contain_text("Your appeal is sent")
    _visit(author, base + "/moderation/notices", audit, "notices, after a decision")

    admin = as_("admin@example.com")
    admin.goto(base + "/moderation/queue")
    admin.get_by_role("link", name=re.compile(f"^Appeal from {NEWCOMER_NAME}")).click()
    audit(admin, "appeal, a second moderator decides")
    audit.assert_clean()


def test_an_admin_manages_accounts_and_facilitators(as_, demo_site, audit):
    base = demo_site.url
    page = as_("admin@example.com")
    _visit(page, base + "/account/admin/users", audit, "admin: accounts and roles")
    _visit(page, base + "/support/admin/facilitators", audit, "admin: facilitators")
    audit.assert_clean()


def test_the_check_fails_on_a_page_with_a_real_violation(as_, demo_site):
    """The audit is not vacuous: an unlabelled field and faint text on a real page fail it."""
    page = as_()
    page.goto(demo_site.url + "/account/login")
    page.evaluate(
        "() => { document.querySelectorAll('label').forEach(l => l.remove());"
        " Object.assign(document.querySelector('h1').style, {color: '#999', background: '#aaa'}); }"
    )
    audit = Audit()
    audit(page, "log in, broken on purpose")
    light, dark = audit.failures.values()  # every rule in light, colours again in dark
    assert {"label", "color-contrast"} <= {v["id"] for v in light}, light
    assert {v["id"] for v in dark} == {"color-contrast"}, dark
    with pytest.raises(AssertionError, match=r"label \(critical\)"):
        audit.assert_clean()
