"""Signals the core sends; moderation and notifications listen. The core never imports them.

Receivers run inside the sender's transaction: they may add rows (an outbox message, a
hold) but must not commit. Each signal is sent with the app as sender.
"""

from blinker import Namespace

_signals = Namespace()

# kwargs: user
user_registered = _signals.signal("user-registered")
# kwargs: user, url — a new sign-up must confirm the address before logging in
signup_confirmation_requested = _signals.signal("signup-confirmation-requested")
# kwargs: user, login_url, reset_url — someone tried to sign up with an address we know
signup_attempted_for_existing_account = _signals.signal("signup-attempted-for-existing-account")
# kwargs: user, url
password_reset_requested = _signals.signal("password-reset-requested")
# kwargs: user
password_changed = _signals.signal("password-changed")
# kwargs: user, new_email, url
email_change_requested = _signals.signal("email-change-requested")
# kwargs: user, old_email
email_changed = _signals.signal("email-changed")

# kwargs: post. A receiver may set post.status = PostStatus.HELD before the flush.
post_created = _signals.signal("post-created")
# kwargs: post, revision
post_edited = _signals.signal("post-edited")
# kwargs: post, actor
post_deleted = _signals.signal("post-deleted")
