"""What chapters 4-6 call: `open_chapter` (live or stored, one switch), the provenance note, and their views.

    session = open_chapter("ch4")        # DME_MODE=auto|stored|live, DME_MINIATURE=1 for miniature live runs
    session.record("sd3-prompts-t5")     # the same record dict in both modes
    session.notice()                     # the warning box when records come from random-weight models
"""

from lib.chapters.provenance import notice, records_table
from lib.chapters.session import ChapterSession, all_records, item, open_chapter, pick
from lib.chapters.switch import CHAPTERS, MODES, PRECOMPUTED, requested_mode, resolve_mode

__all__ = ["CHAPTERS", "MODES", "PRECOMPUTED", "ChapterSession", "all_records", "item", "notice",
           "open_chapter", "pick", "records_table", "requested_mode", "resolve_mode"]
