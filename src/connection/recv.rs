//! Receiving: frames in, events out (RFC 6455 §5, §7).

use super::*;

impl Connection {
    pub(super) fn rules(&self) -> Rules {
        Rules { receiver: self.role, rsv_allowed: self.rsv_allowed, max_frame_size: self.config.max_frame_size }
    }

    /// One unit of progress. `Ok(true)`: a frame completed and was acted on;
    /// `Ok(false)`: more bytes are needed (the partial payload seen so far is
    /// unmasked and, for text, validated, so bad UTF-8 fails at once).
    pub(super) fn step(&mut self) -> Result<bool, ProtocolError> {
        let mut progress = match self.frame {
            Some(p) => p,
            None => {
                let Some((header, header_len)) = frame::decode_header(&self.rx, &self.rules())? else {
                    return Ok(false);
                };
                let progress = self.accept_header(header)?;
                // Saturates only on 32-bit targets with limits near 4 GiB.
                let end = header_len.saturating_add(progress.len);
                if progress.len > 0
                    && self.rx.len() >= end
                    && !progress.compressed
                    && !self.streams(&progress)
                    && !self.assembles(&progress)
                {
                    // The whole frame is here (the common case for small
                    // messages).
                    let frame = self.take_whole_frame(&progress.header, header_len, end, progress.text)?;
                    self.on_frame(progress.header, frame)?;
                    return Ok(true);
                }
                self.rx.advance(header_len);
                progress
            }
        };
        if self.assembles(&progress) {
            return self.step_assemble(progress);
        }
        let avail = self.rx.len().min(progress.len);
        if avail > progress.done {
            let fresh = &mut self.rx[progress.done..avail];
            if let Some(key) = progress.header.mask {
                apply_mask(fresh, key, progress.offset + progress.done);
            }
            if progress.text && self.utf8.feed(fresh).is_err() {
                return Err(ProtocolError::InvalidUtf8);
            }
            progress.done = avail;
        }
        let streaming = self.streams(&progress);
        #[cfg(feature = "deflate")]
        if streaming && progress.compressed {
            return self.step_inflate_stream(progress);
        }
        let mut handed_over = false;
        if streaming && progress.done > 0 {
            // Hand over what arrived; only the undelivered rest stays.
            let chunk = self.rx.split_to(progress.done).freeze();
            let chunk = self.detach(chunk);
            progress.offset += progress.done;
            progress.len -= progress.done;
            progress.done = 0;
            self.stream_chunk(progress.text, chunk);
            handed_over = true;
        }
        if progress.done < progress.len {
            self.frame = Some(progress);
            // Progress only if data was handed over in this call.
            return Ok(handed_over);
        }
        self.frame = None;
        if streaming {
            if progress.header.fin {
                if !self.utf8.is_complete() {
                    return Err(ProtocolError::InvalidUtf8);
                }
                self.assembly = None;
                self.push(Pending::Event(Event::MessageEnd));
            }
            return Ok(true);
        }
        let payload = match progress.len {
            0 => Bytes::new(),
            len => {
                let payload = self.rx.split_to(len).freeze();
                self.detach(payload)
            }
        };
        self.on_frame(progress.header, payload)?;
        Ok(true)
    }

    /// The common case without the output queue: when no message or frame
    /// is in progress and the input starts with a whole, unfragmented,
    /// uncompressed data frame, takes it and returns its message. `None`
    /// when that is not the case (the general path then runs), or when the
    /// frame failed the connection (the failure is queued).
    ///
    /// The caller checks [`fast_path_ready`](Self::fast_path_ready).
    #[inline]
    pub(super) fn next_whole_message(&mut self) -> Option<Message> {
        let Ok(Some((header, header_len))) = frame::decode_header(&self.rx, &self.rules()) else {
            // Incomplete, or an error the general path reports.
            return None;
        };
        let len = header.len as usize;
        let end = header_len.checked_add(len)?;
        if !header.fin
            || header.rsv != 0
            || !matches!(header.opcode, frame::TEXT | frame::BINARY)
            || len == 0
            || self.rx.len() < end
            || len > self.config.max_message_size
        {
            return None;
        }
        let text = header.opcode == frame::TEXT;
        self.utf8.reset();
        match self.take_whole_frame(&header, header_len, end, text) {
            Ok(frame) if !text => Some(Message::Binary(frame)),
            Ok(frame) if self.utf8.is_complete() => Some(Message::Text(Text::from_validated(frame))),
            // Unmasked in place already: fail here, not in the general path.
            _ => {
                self.fail(ProtocolError::InvalidUtf8);
                None
            }
        }
    }

    /// Takes the frame in `rx[..end]` (header of `header_len` bytes) off
    /// the input in one piece: its payload unmasked and, for `text`, fed to
    /// the UTF-8 validator, in place.
    #[inline(always)]
    fn take_whole_frame(
        &mut self,
        header: &Header,
        header_len: usize,
        end: usize,
        text: bool,
    ) -> Result<Bytes, ProtocolError> {
        let payload = &mut self.rx[header_len..end];
        if let Some(key) = header.mask {
            apply_mask(payload, key, 0);
        }
        if text && self.utf8.feed(payload).is_err() {
            return Err(ProtocolError::InvalidUtf8);
        }
        let mut frame = self.rx.split_to(end).freeze();
        frame.advance(header_len);
        Ok(self.detach(frame))
    }

    /// Whether [`next_whole_message`](Self::next_whole_message) may run: OPEN
    /// and reading, between messages, assembled delivery.
    #[inline]
    pub(super) fn fast_path_ready(&self) -> bool {
        matches!(self.phase, Phase::Open)
            && self.reading
            && !self.closed
            && self.frame.is_none()
            && self.assembly.is_none()
            && !self.config.streaming_receive
    }

    /// Whether the frame is a fragment of an uncompressed message being
    /// assembled (its bytes are moved into the assembly as they arrive).
    #[inline]
    pub(super) fn assembles(&self, progress: &FrameProgress) -> bool {
        !progress.compressed
            && !frame::is_control(progress.header.opcode)
            && !self.config.streaming_receive
            && self.assembly.is_some()
    }

    /// Assembled mode, a fragment of an uncompressed message: unmasks what
    /// arrived of it into the assembly (copy and XOR in one pass, instead of
    /// unmasking in place and joining the fragments at the end), validates
    /// text as it comes, and delivers the message after its final fragment.
    fn step_assemble(&mut self, mut p: FrameProgress) -> Result<bool, ProtocolError> {
        let Some(a) = self.assembly.as_mut() else {
            // `assembles` checked it.
            return Ok(false);
        };
        let take = self.rx.len().min(p.len);
        if take > 0 {
            let start = a.data.len();
            // Room for more of this frame at once, but no more than the
            // message so far: memory follows the bytes that came.
            a.data.reserve(take.max(p.len.min(start.max(RX_GROWTH))));
            match p.header.mask {
                Some(key) => extend_masked_at(&mut a.data, &self.rx[..take], key, p.offset),
                None => a.data.extend_from_slice(&self.rx[..take]),
            }
            if a.text && self.utf8.feed(&a.data[start..]).is_err() {
                return Err(ProtocolError::InvalidUtf8);
            }
            self.rx.advance(take);
            p.offset += take;
            p.len -= take;
        }
        if p.len > 0 {
            // All the input was taken; the rest of the frame is to come.
            self.frame = Some(p);
            return Ok(false);
        }
        self.frame = None;
        if p.header.fin {
            if let Some(a) = self.assembly.take() {
                self.deliver(a.text, a.data.freeze())?;
            }
        }
        Ok(true)
    }

    /// Whether the frame's payload is handed over as it arrives.
    #[inline]
    pub(super) fn streams(&self, progress: &FrameProgress) -> bool {
        self.config.streaming_receive && !frame::is_control(progress.header.opcode)
    }

    /// Checks a decoded header against the message state (§5.4) and the
    /// message size limit (§10.4).
    pub(super) fn accept_header(&mut self, header: Header) -> Result<FrameProgress, ProtocolError> {
        // Fits: `decode_header` checked it against `max_frame_size`.
        let len = header.len as usize;
        // RSV1 (permessage-deflate, when negotiated) marks the first frame of
        // a compressed message, never a continuation or control frame
        // (RFC 7692 §6.1).
        let compressed = header.rsv & RSV1 != 0;
        if compressed && !matches!(header.opcode, frame::TEXT | frame::BINARY) {
            return Err(ProtocolError::ReservedBits(header.rsv));
        }
        let text = match header.opcode {
            frame::TEXT | frame::BINARY => {
                if self.assembly.is_some() {
                    return Err(ProtocolError::ExpectedContinuation);
                }
                self.check_message_size(len)?;
                self.utf8.reset();
                self.stream_tail_len = 0;
                let text = header.opcode == frame::TEXT;
                // A whole message in one frame, delivered as it completes,
                // needs no assembly (`on_frame` delivers it directly).
                if !header.fin || compressed || self.config.streaming_receive {
                    self.assembly = Some(Assembly { text, data: BytesMut::new(), size: len, frames: 1, compressed });
                }
                if self.config.streaming_receive {
                    let kind = if text { MessageKind::Text } else { MessageKind::Binary };
                    self.push(Pending::Event(Event::MessageStart(kind)));
                }
                text
            }
            frame::CONTINUATION => {
                let (max, max_frames) = (self.config.max_message_size, self.config.max_fragments);
                let Some(a) = &mut self.assembly else {
                    return Err(ProtocolError::UnexpectedContinuation);
                };
                let size = a.size.saturating_add(len);
                if size > max {
                    return Err(ProtocolError::MessageTooLarge { size: size as u64, max });
                }
                if a.frames >= max_frames {
                    return Err(ProtocolError::TooManyFragments { max: max_frames });
                }
                a.size = size;
                a.frames += 1;
                a.text
            }
            _ => false,
        };
        // A compressed message is validated after inflating, not on the wire.
        let compressed = self.assembly.as_ref().is_some_and(|a| a.compressed) && !frame::is_control(header.opcode);
        Ok(FrameProgress {
            header,
            len,
            done: 0,
            offset: 0,
            text: text && !compressed,
            compressed,
            inflate_done: false,
        })
    }

    pub(super) fn check_message_size(&self, size: usize) -> Result<(), ProtocolError> {
        if size > self.config.max_message_size {
            return Err(ProtocolError::MessageTooLarge { size: size as u64, max: self.config.max_message_size });
        }
        Ok(())
    }

    /// Streaming receive: hands over validated message data. A text chunk
    /// never ends inside a code point: an incomplete tail waits (at most 3
    /// bytes) for the bytes that complete it.
    pub(super) fn stream_chunk(&mut self, text: bool, mut bytes: Bytes) {
        if !text {
            if !bytes.is_empty() {
                self.push(Pending::Event(Event::MessageChunk(Message::Binary(bytes))));
            }
            return;
        }
        if self.stream_tail_len > 0 {
            let have = usize::from(self.stream_tail_len);
            let width = utf8::width(self.stream_tail[0]);
            let take = (width - have).min(bytes.len());
            self.stream_tail[have..have + take].copy_from_slice(&bytes[..take]);
            bytes.advance(take);
            if have + take < width {
                self.stream_tail_len = (have + take) as u8;
                return;
            }
            self.stream_tail_len = 0;
            let code_point = Bytes::copy_from_slice(&self.stream_tail[..width]);
            self.push(Pending::Event(Event::MessageChunk(Message::Text(Text::from_validated(code_point)))));
        }
        let keep = utf8::incomplete_suffix(&bytes);
        let complete = bytes.len() - keep;
        self.stream_tail[..keep].copy_from_slice(&bytes[complete..]);
        self.stream_tail_len = keep as u8;
        if complete > 0 {
            bytes.truncate(complete);
            self.push(Pending::Event(Event::MessageChunk(Message::Text(Text::from_validated(bytes)))));
        }
    }

    /// Acts on a complete, unmasked frame (assembled mode).
    pub(super) fn on_frame(&mut self, header: Header, payload: Bytes) -> Result<(), ProtocolError> {
        match header.opcode {
            #[cfg(feature = "deflate")]
            frame::TEXT | frame::BINARY | frame::CONTINUATION
                if self.assembly.as_ref().is_some_and(|a| a.compressed) =>
            {
                self.inflate_frame(&payload, header.fin)?;
            }
            // A whole message in one frame (`accept_header` started no
            // assembly; fragments go through `step_assemble`).
            frame::TEXT | frame::BINARY => self.deliver(header.opcode == frame::TEXT, payload)?,
            // Not reached: a continuation is part of an assembly.
            frame::CONTINUATION => return Err(ProtocolError::UnexpectedContinuation),
            frame::PING => {
                if self.config.auto_pong && !self.close_sent {
                    self.queue_control(frame::PONG, &payload);
                }
                self.push(Pending::Event(Event::Ping(payload)));
            }
            frame::PONG => self.push(Pending::Event(Event::Pong(payload))),
            frame::CLOSE => self.on_close(&payload)?,
            // `decode_header` rejects every other opcode.
            op => return Err(ProtocolError::ReservedOpcode(op)),
        }
        Ok(())
    }

    /// Assembled mode: inflates a complete frame of a compressed message
    /// into the message buffer, validating text as it comes out; the
    /// message is delivered at its end.
    ///
    /// Every frame inflates into the one buffer of the message, which grows
    /// geometrically with what came out: however the peer frames the
    /// message (a 1-byte frame costs no more than its output), the message
    /// holds at most about twice its inflated size.
    #[cfg(feature = "deflate")]
    pub(super) fn inflate_frame(&mut self, payload: &[u8], fin: bool) -> Result<(), ProtocolError> {
        let max = self.config.max_message_size;
        let (Some(codec), Some(a)) = (self.deflate.as_mut(), self.assembly.as_mut()) else {
            // A compressed message implies a codec: RSV1 is refused without one.
            return Err(ProtocolError::ReservedBits(RSV1));
        };
        let start = a.data.len();
        codec.decompress(payload, fin, &mut a.data, max).map_err(|e| inflate_error(e, max))?;
        if a.text && self.utf8.feed(&a.data[start..]).is_err() {
            return Err(ProtocolError::InvalidUtf8);
        }
        if fin {
            if let Some(a) = self.assembly.take() {
                self.deliver(a.text, a.data.freeze())?;
            }
        }
        Ok(())
    }

    /// Streaming mode: inflates what arrived of a compressed message's frame,
    /// at most [`INFLATE_CHUNK`] bytes per call, so memory stays bounded by
    /// the chunk size however far the data inflates.
    #[cfg(feature = "deflate")]
    pub(super) fn step_inflate_stream(&mut self, mut p: FrameProgress) -> Result<bool, ProtocolError> {
        let max = self.config.max_message_size;
        let text = self.assembly.as_ref().is_some_and(|a| a.text);
        let fin_piece = p.header.fin && p.done == p.len;
        let mut progressed = false;
        if p.done > 0 || (fin_piece && !p.inflate_done) {
            let Some(codec) = self.deflate.as_mut() else {
                return Err(ProtocolError::ReservedBits(RSV1));
            };
            let mut chunk = BytesMut::new();
            let step = codec
                .decompress_into(&self.rx[..p.done], fin_piece, &mut chunk, INFLATE_CHUNK, max)
                .map_err(|e| inflate_error(e, max))?;
            if step.consumed > 0 {
                self.rx.advance(step.consumed);
                p.offset += step.consumed;
                p.len -= step.consumed;
                p.done -= step.consumed;
                progressed = true;
            }
            p.inflate_done = fin_piece && step.finished;
            if !chunk.is_empty() {
                if text && self.utf8.feed(&chunk).is_err() {
                    return Err(ProtocolError::InvalidUtf8);
                }
                self.stream_chunk(text, chunk.freeze());
                progressed = true;
            }
            if !step.finished {
                // Output is waiting: continue once this chunk is taken.
                self.frame = Some(p);
                return Ok(true);
            }
        }
        if p.len > 0 || (p.header.fin && !p.inflate_done) {
            self.frame = Some(p);
            return Ok(progressed);
        }
        self.frame = None;
        if p.header.fin {
            if !self.utf8.is_complete() {
                return Err(ProtocolError::InvalidUtf8);
            }
            self.assembly = None;
            self.push(Pending::Event(Event::MessageEnd));
        }
        Ok(true)
    }

    pub(super) fn deliver(&mut self, text: bool, payload: Bytes) -> Result<(), ProtocolError> {
        let message = if text {
            if !self.utf8.is_complete() {
                return Err(ProtocolError::InvalidUtf8);
            }
            Message::Text(Text::from_validated(payload))
        } else {
            Message::Binary(payload)
        };
        self.push(Pending::Event(Event::Message(message)));
        Ok(())
    }

    /// The peer's Close frame (§5.5.1, §7.1.5).
    pub(super) fn on_close(&mut self, payload: &[u8]) -> Result<(), ProtocolError> {
        let frame = match payload {
            [] => CloseFrame { code: CloseCode::NO_STATUS_RCVD, reason: String::new() },
            [_] => return Err(ProtocolError::InvalidClosePayload),
            [hi, lo, reason @ ..] => {
                let code = CloseCode::new(u16::from_be_bytes([*hi, *lo]));
                if !code.is_valid_received() {
                    return Err(ProtocolError::InvalidCloseCode(code.as_u16()));
                }
                let Ok(reason) = core::str::from_utf8(reason) else {
                    return Err(ProtocolError::InvalidCloseReason);
                };
                CloseFrame { code, reason: String::from(reason) }
            }
        };
        // Nothing after the peer's Close is processed or delivered.
        self.stop_reading();
        let peer_started = !self.close_sent;
        if peer_started {
            // Echo the code and reason (§5.5.1); none if the peer sent none.
            let code = (frame.code != CloseCode::NO_STATUS_RCVD).then_some(frame.code);
            self.queue_close(code, &frame.reason);
            self.push(Pending::Event(Event::Closing(frame.clone())));
        }
        let (code, reason) = (frame.code, frame.reason.clone());
        self.close_received = Some(frame);
        if self.closing_started.is_none() {
            self.closing_started = self.now;
        }
        // §7.1.1: the server closes the TCP connection first; the client
        // waits for it.
        if self.role == Role::Server {
            self.finish(code, reason, true, None);
        }
        Ok(())
    }

    /// Fails the connection (§7.1.7): a Close with the error's code if ours
    /// was not sent, no more input, close the transport, report 1006.
    pub(super) fn fail(&mut self, error: ProtocolError) {
        if self.closed {
            return;
        }
        if !self.close_sent {
            self.queue_close(Some(error.close_code()), "");
        }
        self.finish(CloseCode::ABNORMAL, String::new(), false, Some(ConnectionError::Protocol(error)));
    }

    pub(super) fn stop_reading(&mut self) {
        self.reading = false;
        self.release_rx();
        self.frame = None;
        self.assembly = None;
    }
}

/// The most inflated bytes handed over at once in streaming mode.
#[cfg(feature = "deflate")]
const INFLATE_CHUNK: usize = 64 * 1024;

/// The protocol error an inflate failure fails the connection with.
#[cfg(feature = "deflate")]
fn inflate_error(e: deflate::InflateError, max: usize) -> ProtocolError {
    match e {
        deflate::InflateError::TooLarge => ProtocolError::MessageTooLarge { size: (max as u64).saturating_add(1), max },
        deflate::InflateError::Corrupt => ProtocolError::InvalidCompressedData,
    }
}
