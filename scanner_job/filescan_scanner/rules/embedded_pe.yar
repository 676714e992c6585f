/*
  A Windows executable whose MZ/PE headers appear after offset 0 (dropped or smuggled payloads).
  The condition checks the PE signature at e_lfanew. In the scanner's chunked pass @mz is relative to
  the scanned window, so a DOS header at absolute offset 0 is excluded only in the first window;
  later windows never start at offset 0 of the file.
*/
rule embedded_pe_executable
{
    meta:
        category = "embedded-executable"
        severity = "medium"
        title = "Windows executable embedded after offset 0"
    strings:
        $mz = { 4D 5A 90 00 03 00 00 00 }
    condition:
        for any i in (1..#mz) : (
            @mz[i] > 0 and
            uint32(@mz[i] + 0x3C) < 0x1000 and
            uint32(@mz[i] + uint32(@mz[i] + 0x3C)) == 0x00004550
        )
}
