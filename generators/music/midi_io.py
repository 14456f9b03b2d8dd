"""Read MIDI into quantized notes and write notes back to standard MIDI files, with music21.

MIDI files are read at the event level with ``music21.midi`` (note-on/note-off
pairs per channel and pitch, first on matched with first off), which keeps
overlapping notes exact and is far faster than building a notated score.
Other formats (MusicXML, e.g. music21's Bach chorales) go through the score
parser. Multi-track files: every pitched, non-drum track and channel is merged
into one stream (MIDI channel 10, the General MIDI drum channel, and
percussion parts are dropped), so both hands of a piano file survive. Notes of
the same pitch at the same onset are kept once (the longest).
"""

from __future__ import annotations

from pathlib import Path

from .encoder import Note, quantize, resolve_overlaps

GM_PROGRAMS_MAX = 127


def _is_drum_part(part) -> bool:
    from music21 import instrument

    for inst in part.recurse().getElementsByClass(instrument.Instrument):
        if isinstance(inst, instrument.UnpitchedPercussion) or inst.midiChannel == 9:
            return True
    return False


def score_to_notes(score, steps_per_quarter: int = 4) -> list[Note]:
    """All pitched notes of a notated music21 score (e.g. MusicXML), merged across non-drum parts, quantized."""
    from music21 import chord, note, stream

    parts = list(score.parts) if isinstance(score, stream.Score) and score.parts else [score]
    best: dict[tuple[int, int], int] = {}
    for part in parts:
        if _is_drum_part(part):
            continue
        for el in part.stripTies(inPlace=False).flatten().notes:  # tied notes (split at barlines) become one
            if isinstance(el, note.Note):
                pitches = [el.pitch.midi]
            elif isinstance(el, chord.Chord):
                pitches = [p.midi for p in el.pitches]
            else:  # unpitched percussion
                continue
            onset, duration = quantize(float(el.offset), float(el.quarterLength), steps_per_quarter)
            for p in pitches:
                if 0 <= p <= 127 and duration > best.get((onset, p), 0):
                    best[(onset, p)] = duration
    return resolve_overlaps(Note(onset, pitch, duration) for (onset, pitch), duration in best.items())


DRUM_CHANNEL = 10  # music21 numbers channels 1-16


def midi_file_to_notes(mf, steps_per_quarter: int = 4) -> list[Note]:
    """Notes of a parsed ``music21.midi.MidiFile``, merged over tracks and channels, drums dropped."""
    from music21 import midi

    tpq = mf.ticksPerQuarterNote
    if not tpq or tpq <= 0:
        raise ValueError("MIDI file uses SMPTE time division, which is not supported")
    best: dict[tuple[int, int], int] = {}
    for track in mf.tracks:
        time = 0
        sounding: dict[tuple[int, int], list[int]] = {}
        for event in track.events:
            if isinstance(event, midi.DeltaTime):
                time += event.time
                continue
            if event.channel == DRUM_CHANNEL or event.pitch is None:
                continue
            key = (event.channel, event.pitch)
            if event.type == midi.ChannelVoiceMessages.NOTE_ON and event.velocity:
                sounding.setdefault(key, []).append(time)
            elif event.type in (midi.ChannelVoiceMessages.NOTE_OFF, midi.ChannelVoiceMessages.NOTE_ON):
                starts = sounding.get(key)
                if starts:
                    start = starts.pop(0)
                    onset, duration = quantize(start / tpq, (time - start) / tpq, steps_per_quarter)
                    if duration > best.get((onset, event.pitch), 0):
                        best[(onset, event.pitch)] = duration
    return resolve_overlaps(Note(onset, pitch, duration) for (onset, pitch), duration in best.items())


def read_midi_notes(path: str | Path, steps_per_quarter: int = 4) -> list[Note]:
    """Notes of a MIDI file (raises whatever music21 raises on a broken file)."""
    from music21 import midi

    mf = midi.MidiFile()
    mf.open(str(path))
    try:
        mf.read()
    finally:
        mf.close()
    return midi_file_to_notes(mf, steps_per_quarter)


def notes_to_stream(notes: list[Note], *, steps_per_quarter: int = 4, tempo: float = 120.0, program: int = 0):
    """A music21 stream: one part with the instrument and tempo set, chords where notes share onset and duration."""
    from music21 import chord, instrument, note, stream, tempo as m21tempo

    part = stream.Part()
    inst = instrument.instrumentFromMidiProgram(program)
    inst.midiProgram = program
    part.insert(0, inst)
    part.insert(0, m21tempo.MetronomeMark(number=tempo))
    groups: dict[tuple[int, int], list[int]] = {}
    for n in resolve_overlaps(notes):  # overlapping notes of one pitch would be ambiguous in MIDI
        groups.setdefault((n.onset, n.duration), []).append(n.pitch)
    for (onset, duration), pitches in sorted(groups.items()):
        ql = duration / steps_per_quarter
        el = note.Note(pitches[0], quarterLength=ql) if len(pitches) == 1 else chord.Chord(sorted(set(pitches)), quarterLength=ql)
        part.insert(onset / steps_per_quarter, el)
    score = stream.Score()
    score.insert(0, part)
    return score


def notes_to_midi_bytes(notes: list[Note], *, steps_per_quarter: int = 4, tempo: float = 120.0, program: int = 0) -> bytes:
    """A standard MIDI file (type 1) as bytes."""
    from music21 import midi

    score = notes_to_stream(notes, steps_per_quarter=steps_per_quarter, tempo=tempo, program=program)
    mf = midi.translate.streamToMidiFile(score)
    return mf.writestr()


def midi_bytes_to_notes(data: bytes, steps_per_quarter: int = 4) -> list[Note]:
    from music21 import midi

    mf = midi.MidiFile()
    mf.readstr(data)
    return midi_file_to_notes(mf, steps_per_quarter)


