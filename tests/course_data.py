"""A small course that several test packages share (the demo course is larger)."""

SMALL_COURSE = {
    "slug": "allyship",
    "title": "Allyship basics",
    "intro": "A short course.",
    "modules": [
        {
            "slug": "noticing",
            "title": "Module 1: Noticing",
            "journal_prompt": "What did you notice this week?",
            "prompts": [
                {"slug": "first-memory", "title": "A first memory", "body": "Share one."},
                {"slug": "the-room", "title": "Who is in the room?", "body": "Look around."},
            ],
        },
        {
            "slug": "listening",
            "title": "Module 2: Listening",
            "prompts": [{"slug": "an-account", "title": "An account that stayed"}],
        },
    ],
}
