"""The hall's records as read after the fact: a day's tickets from the controller's store, the event
store kept by the web and head office (exactly once, gaps repaired), and the figures made from it."""
