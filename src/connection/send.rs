//! Sending: messages, control frames and the Close, queued for output.

use super::*;

impl Connection {
    /// Starts a message sent in pieces (§5.4): each
    /// [`send_chunk`](Self::send_chunk) queues one more frame at once (split
    /// further at [`Config::fragment_size`]), and
    /// [`finish_message`](Self::finish_message) queues the final one. Pings,
    /// Pongs and a Close may go out between the pieces; other messages may
    /// not (`send` fails with [`SendError::StreamInProgress`] until the
    /// message is finished).
    ///
    /// [`close`](Self::close) during an unfinished message sends the Close
    /// at once, between two fragments as §5.4 allows, and abandons the
    /// message: the peer discards its unfinished part, and further pieces
    /// fail with [`SendError::NotOpen`]. Waiting for the rest instead would
    /// let an application that never finishes keep the connection from
    /// closing; WHATWG's "close() does not discard messages" covers messages
    /// handed over whole, which this one is not.
    pub fn begin_message(&mut self, kind: MessageKind) -> Result<(), SendError> {
        self.check_open()?;
        if self.tx_stream.is_some() {
            return Err(SendError::StreamInProgress);
        }
        let text = kind == MessageKind::Text;
        self.tx_stream = Some(TxStream { text, started: false, utf8: Utf8Validator::default() });
        Ok(())
    }

    /// Queues the next piece of the message started by
    /// [`begin_message`](Self::begin_message). For text, the pieces together
    /// must be UTF-8 (a code point may be split between pieces); a piece that
    /// makes it invalid fails with [`SendError::InvalidUtf8`] and is not
    /// queued. An empty piece queues nothing.
    pub fn send_chunk(&mut self, data: impl Into<Bytes>) -> Result<(), SendError> {
        self.queue_piece(data.into(), false)
    }

    /// Queues the last piece (possibly empty) of the message started by
    /// [`begin_message`](Self::begin_message) and ends it. Text must end on a
    /// whole code point, else [`SendError::InvalidUtf8`].
    pub fn finish_message(&mut self, data: impl Into<Bytes>) -> Result<(), SendError> {
        self.queue_piece(data.into(), true)
    }

    pub(super) fn queue_piece(&mut self, data: Bytes, fin: bool) -> Result<(), SendError> {
        self.check_open()?;
        let Some(stream) = &self.tx_stream else {
            return Err(SendError::NoStreamInProgress);
        };
        let (text, started) = (stream.text, stream.started);
        let mut utf8 = stream.utf8.clone();
        if text && (utf8.feed(&data).is_err() || (fin && !utf8.is_complete())) {
            return Err(SendError::InvalidUtf8);
        }
        if data.is_empty() && !fin {
            return Ok(());
        }
        self.check_room(data.len())?;
        let opcode = match (started, text) {
            (true, _) => frame::CONTINUATION,
            (false, true) => frame::TEXT,
            (false, false) => frame::BINARY,
        };
        // With permessage-deflate, a streamed message is compressed (its
        // size is unknown, so the threshold cannot apply); the compressor may
        // hold a piece back, and the first frame that goes out carries RSV1.
        #[cfg(feature = "deflate")]
        if let Some(codec) = self.deflate.as_mut() {
            let app = data.len();
            let mut out = BytesMut::new();
            codec.compress_chunk(&data, fin, &mut out);
            let mut started = started;
            if !out.is_empty() || fin {
                let rsv = if started { 0 } else { RSV1 };
                // Pieces the compressor held back go out with this frame.
                let app = app + core::mem::take(&mut self.held_back);
                self.buffered -= app - data.len();
                self.queue_data(opcode, out.freeze(), fin, rsv, Some(app));
                started = true;
            } else {
                // Nothing went out, but the bytes are queued all the same.
                self.buffered += app;
                self.held_back += app;
            }
            self.tx_stream = if fin { None } else { Some(TxStream { text, started, utf8 }) };
            return Ok(());
        }
        self.queue_data(opcode, data, fin, 0, None);
        self.tx_stream = if fin { None } else { Some(TxStream { text, started: true, utf8 }) };
        Ok(())
    }

    /// Whether `len` more bytes may be queued under
    /// [`Config::send_high_water`]: the queue's whole cost
    /// ([`queued_bytes`](Self::queued_bytes)) counts, and anything fits
    /// an empty queue.
    pub(super) fn check_room(&mut self, len: usize) -> Result<(), SendError> {
        if let Some(high_water) = self.config.send_high_water {
            let queued = self.queued_bytes();
            if queued > 0 && queued.saturating_add(len) > high_water {
                self.send_blocked = true;
                return Err(SendError::Full { queued, len, high_water });
            }
        }
        Ok(())
    }

    pub(super) fn check_open(&self) -> Result<(), SendError> {
        match self.ready_state() {
            ReadyState::Open => Ok(()),
            state => Err(SendError::NotOpen(state)),
        }
    }

    pub(super) fn start_close(&mut self, code: Option<CloseCode>, reason: &str) {
        if self.ready_state() == ReadyState::Connecting {
            // WHATWG: close() before the connection is established fails it.
            return self.finish(
                CloseCode::ABNORMAL,
                String::new(),
                false,
                Some(ConnectionError::ClosedWhileConnecting),
            );
        }
        if self.ready_state() != ReadyState::Open {
            return;
        }
        let reason = if code.is_some() { reason } else { "" };
        self.queue_close(code, reason);
    }

    /// Queues our Close frame; nothing is queued after it.
    pub(super) fn queue_close(&mut self, code: Option<CloseCode>, reason: &str) {
        if self.close_sent || self.closed {
            return;
        }
        // An unfinished streamed message is abandoned (see `begin_message`),
        // with whatever the compressor still held of it.
        self.tx_stream = None;
        self.buffered -= core::mem::take(&mut self.held_back);
        let mut body = [0u8; frame::MAX_CONTROL_PAYLOAD];
        let len = match code {
            Some(c) => {
                // Callers checked `reason.len() <= 123`; a peer's reason came
                // in a control frame of at most 125 bytes.
                let reason = &reason.as_bytes()[..reason.len().min(MAX_REASON_LEN)];
                body[..2].copy_from_slice(&c.as_u16().to_be_bytes());
                body[2..2 + reason.len()].copy_from_slice(reason);
                2 + reason.len()
            }
            None => 0,
        };
        self.queue_control(frame::CLOSE, &body[..len]);
        self.close_sent = true;
        if self.closing_started.is_none() {
            self.closing_started = self.now;
        }
    }

    pub(super) fn queue_control_checked(&mut self, opcode: u8, payload: Bytes) -> Result<(), SendError> {
        if payload.len() > frame::MAX_CONTROL_PAYLOAD {
            return Err(SendError::ControlPayloadTooLong(payload.len()));
        }
        self.check_open()?;
        self.check_room(payload.len())?;
        self.queue_control(opcode, &payload);
        Ok(())
    }

    pub(super) fn queue_control(&mut self, opcode: u8, payload: &[u8]) {
        if self.close_sent || self.closed {
            return;
        }
        self.queue_frame_copied(true, 0, opcode, payload, 0);
    }

    /// Queues message data as frames of at most `Config::fragment_size`;
    /// the first carries `rsv`, the last `fin`. `app` is the application
    /// bytes the data stands for (`buffered_amount`): `None` when it is the
    /// data itself (each frame counts its payload), `Some(n)` for compressed
    /// data (all `n` count until the last frame is polled).
    pub(super) fn queue_data(&mut self, opcode: u8, payload: Bytes, fin: bool, rsv: u8, app: Option<usize>) {
        let total = payload.len();
        let size = self.config.fragment_size.unwrap_or(usize::MAX).max(1);
        if total <= size {
            // One frame: no slicing (a reference count up and down).
            self.buffered += app.unwrap_or(total);
            self.queue_frame(fin, rsv, opcode, payload, app.unwrap_or(total));
            return;
        }
        let mut start: usize = 0;
        let (mut op, mut rsv) = (opcode, rsv);
        loop {
            let end = total.min(start.saturating_add(size));
            let last = end == total;
            let frame_app = match app {
                None => end - start,
                Some(n) if last => n,
                Some(_) => 0,
            };
            self.queue_frame(fin && last, rsv, op, payload.slice(start..end), frame_app);
            if last {
                break;
            }
            (op, rsv, start) = (frame::CONTINUATION, 0, end);
        }
        self.buffered += app.unwrap_or(total);
    }

    /// Queues one data frame carrying `payload`, of which `app` bytes count
    /// in `buffered_amount`.
    #[inline(always)]
    pub(super) fn queue_frame(&mut self, fin: bool, rsv: u8, opcode: u8, payload: Bytes, app: usize) {
        if self.role == Role::Client || payload.len() <= COALESCE_MAX {
            self.queue_frame_copied(fin, rsv, opcode, &payload, app);
        } else {
            let mut head = [0u8; frame::MAX_HEADER_LEN];
            let n = frame::encode_header(&mut head, fin, rsv, opcode, None, payload.len());
            self.append_tx(&head[..n], 0);
            self.overhead += QUEUE_SLOT;
            self.out.push_back(Pending::Payload { bytes: payload, app, extra: QUEUE_SLOT });
        }
    }

    /// Writes header and (masked, for a client) payload into `tx`.
    #[inline(always)]
    pub(super) fn queue_frame_copied(&mut self, fin: bool, rsv: u8, opcode: u8, payload: &[u8], app: usize) {
        let mask = match self.role {
            Role::Client => Some(self.next_mask()),
            Role::Server => None,
        };
        let mut head = [0u8; frame::MAX_HEADER_LEN];
        let n = frame::encode_header(&mut head, fin, rsv, opcode, mask, payload.len());
        let start = self.tx.len();
        // Room for a run of small frames at once: the buffer is reclaimed
        // (or grown) once per run, not per frame.
        let need = frame::header_len(payload.len(), mask.is_some()) + payload.len();
        if self.tx.capacity() - start < need {
            self.tx.reserve(need.max(TX_RESERVE));
        }
        self.tx.extend_from_slice(&head[..n]);
        match mask {
            Some(key) => extend_masked(&mut self.tx, payload, key),
            None => self.tx.extend_from_slice(payload),
        }
        // Control payloads are not message payload: they count as overhead,
        // like every header. (Compressed data counts its uncompressed size
        // in `buffered` instead, see `queue_data`.)
        let extra = if frame::is_control(opcode) { n + payload.len() } else { n };
        self.note_tx(n + payload.len(), app, extra);
    }

    pub(super) fn append_tx(&mut self, bytes: &[u8], app: usize) {
        if self.closed {
            return;
        }
        self.tx.extend_from_slice(bytes);
        self.note_tx(bytes.len(), app, bytes.len() - app);
    }

    /// Records that `len` more bytes of `tx` are queued, `app` of them
    /// counted in `buffered` and `extra` in `overhead`.
    #[inline]
    pub(super) fn note_tx(&mut self, len: usize, app: usize, extra: usize) {
        if let Some(Pending::Tx { len: l, app: a, extra: e }) = self.out.back_mut() {
            *l += len;
            *a += app;
            *e += extra;
            self.overhead += extra;
        } else {
            let extra = extra + QUEUE_SLOT;
            self.overhead += extra;
            self.out.push_back(Pending::Tx { len, app, extra });
        }
    }

    #[inline]
    pub(super) fn next_mask(&mut self) -> [u8; 4] {
        if self.masks_used + 4 > self.masks.len() {
            self.masks.resize(MASK_BATCH, 0);
            self.entropy.fill(&mut self.masks);
            self.masks_used = 0;
        }
        let m = &self.masks[self.masks_used..self.masks_used + 4];
        self.masks_used += 4;
        [m[0], m[1], m[2], m[3]]
    }
}
