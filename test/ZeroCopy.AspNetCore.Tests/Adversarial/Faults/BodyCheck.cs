using System.Security.Cryptography;

namespace ZeroCopy.AspNetCore.Tests.Adversarial.Faults;

/// <summary>
/// Checks a body against the bytes it claims to be, as it streams: every byte compared with the
/// expected slice, and a SHA-256 of what arrived (compared with the expected slice's hash when
/// <see cref="Finish"/> is called on a complete body).
/// </summary>
internal sealed class BodyCheck : IDisposable
{
    private readonly ReadOnlyMemory<byte> _expected;
    private readonly IncrementalHash? _hash;
    private readonly byte[]? _expectedHash;
    private long _position;

    /// <param name="expected">The bytes the body claims to be.</param>
    /// <param name="hash">Also SHA-256 the body.</param>
    /// <param name="expectedHash">SHA-256 of <paramref name="expected"/> when known (else computed at the end).</param>
    public BodyCheck(ReadOnlyMemory<byte> expected, bool hash, byte[]? expectedHash = null)
    {
        _expected = expected;
        _hash = hash ? IncrementalHash.CreateHash(HashAlgorithmName.SHA256) : null;
        _expectedHash = expectedHash;
    }

    /// <summary>The body was SHA-256-checked (not only compared byte by byte).</summary>
    public bool Hashed => _hash is not null;

    /// <summary>Offset of the first byte that differs from the expected bytes; -1 when none.</summary>
    public long FirstMismatch { get; private set; } = -1;

    public long Position => _position;

    public void Append(ReadOnlySpan<byte> chunk)
    {
        _hash?.AppendData(chunk);
        if (FirstMismatch < 0)
        {
            var available = (int)Math.Max(0, Math.Min(chunk.Length, _expected.Length - _position));
            var expected = _expected.Span.Slice((int)Math.Min(_position, _expected.Length), available);
            var mismatch = chunk[..available].CommonPrefixLength(expected);
            if (mismatch < available)
            {
                FirstMismatch = _position + mismatch;
            }
            else if (available < chunk.Length)
            {
                FirstMismatch = _position + available;
            }
        }

        _position += chunk.Length;
    }

    /// <summary>True when every byte matched and (if hashing) the SHA-256 equals the expected bytes' SHA-256.</summary>
    public bool Finish()
    {
        if (FirstMismatch >= 0 || _position != _expected.Length)
        {
            return false;
        }

        return _hash is null || _hash.GetHashAndReset().AsSpan().SequenceEqual(_expectedHash ?? SHA256.HashData(_expected.Span));
    }

    public void Dispose() => _hash?.Dispose();
}
