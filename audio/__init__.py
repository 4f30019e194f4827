"""Audio: text normalisation, speech engines, tones, rendering and playback.

Nothing here imports the engine; the controller asks for announcements and hands
them to a sink.
"""
